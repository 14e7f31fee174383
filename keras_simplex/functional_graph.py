"""Running a functional Keras model's inference graph with some operations replaced.

Used to differentiate logits instead of activations (``keras_simplex.logits``) and by the
speed rewrites (``keras_simplex._fast``). Relies on Keras' functional-graph internals; a
Keras without them, or a subclassed model, has no graph here (``functional_graph`` is None).
"""

from __future__ import annotations

from typing import Any, Callable

import keras

try:
    from keras.src.models.functional import Functional, operation_fn
except ImportError:  # pragma: no cover - a Keras without the internals used here
    Functional, operation_fn = None, None

# An operation's replacement, given the call that would run otherwise: call -> new call.
Wrapper = Callable[[Callable], Callable]


def functional_graph(model: Any) -> Any:
    """The functional graph of a Sequential or functional model, else None."""
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    return graph if Functional is not None and isinstance(graph, Functional) else None


def output_operations(graph: Any) -> list[Any]:
    """The operations (layers or ops) that produce the graph's outputs, in output order."""
    return [tensor._keras_history.operation for tensor in graph.outputs]


def graph_forward(graph: Any, replacements: dict[int, Callable], wrappers: dict[int, Wrapper] | None = None) -> Callable:
    """``forward(x)`` computing ``graph(x, training=False)`` with operations replaced.

    Args:
      graph: a functional graph (``functional_graph``).
      replacements: operation id -> call used instead of the operation's own.
      wrappers: operation id -> function of the call that would run (replaced or not)
        returning the call to run instead (applied after ``replacements``).
    """
    wrappers = wrappers or {}

    def operation(op):
        call = replacements.get(id(op)) or operation_fn(op, training=False)
        return wrappers[id(op)](call) if id(op) in wrappers else call

    def forward(x):
        outputs = graph._run_through_graph(graph._standardize_inputs(x), operation_fn=operation)
        return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs

    return forward


class GraphLinks:
    """Which node computes and how many nodes read each tensor of a functional graph, and how
    many nodes call each operation (a layer used twice shares its weights: never rewritten)."""

    def __init__(self, graph: Any) -> None:
        self.nodes = [node for depth in graph._nodes_by_depth.values() for node in depth if node.operation]
        self.uses: dict[int, int] = {}  # operation -> nodes calling it
        self.consumers: dict[int, int] = {id(t): 1 for t in graph.outputs}  # tensor -> nodes reading it
        self.producer: dict[int, Any] = {}  # tensor -> node computing it
        for node in self.nodes:
            self.uses[id(node.operation)] = self.uses.get(id(node.operation), 0) + 1
            for tensor in node.input_tensors:
                self.consumers[id(tensor)] = self.consumers.get(id(tensor), 0) + 1
            for tensor in node.outputs:
                self.producer[id(tensor)] = node

    def sole_source(self, node: Any) -> Any:
        """The node computing ``node``'s only input when nothing else reads that input and both
        operations are called once in the graph, else None."""
        if len(node.input_tensors) != 1 or self.uses[id(node.operation)] != 1:
            return None
        tensor = node.input_tensors[0]
        source = self.producer.get(id(tensor))
        if source is None or self.consumers.get(id(tensor)) != 1 or self.uses[id(source.operation)] != 1:
            return None
        return source
