"""Training with the angle regularizer and the angle callback.

Title: Keep gradients on the simplex while training
Description: train the paper's CNN-deep twice on synthetic data, plainly and with the angle
regularizer warmed up over the first epochs, monitor the gradient angles of a validation
subset every epoch (in the History and in TensorBoard), and compare the trained models'
angles and saliency maps.

What you will learn:
- `ks.add_angle_regularizer(model, strength)` wraps a model so that `model.fit` adds the angle
  penalty (computed in the layer's `call` with `self.add_loss`), predicting exactly as before;
- `ks.SimplexAngleCallback(x_monitor, schedule=ks.warmup(strength, epochs))` sets the strength
  each epoch and logs `angle_mean_abs`, `angle_std` and `angle_above_30/45/60`; listed before
  `keras.callbacks.TensorBoard`, those land in TensorBoard too;
- a regularized model's raw maps are nearly its corrected maps: the angles are near zero.

Run:

    python examples/angle_regularization.py [--strength 1e-3] [--epochs 20] [--quick]
    tensorboard --logdir outputs/examples/regularization/logs
"""

import argparse
import dataclasses
import json
import os

import keras
import numpy as np

import keras_simplex as ks
from keras_simplex.datasets import synthetic
from keras_simplex.demo import angle_report, attribution_report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="outputs/examples/regularization")
    parser.add_argument("--sequences", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--strength", type=float, default=1e-3, help="angle-penalty strength after the warm-up")
    parser.add_argument("--warmup-epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small data, 2 epochs (for tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sequences, args.epochs, args.warmup_epochs = 1000, 2, 1
    os.makedirs(args.output_dir, exist_ok=True)

    recipe = dataclasses.replace(synthetic.ORIGINAL, num_positives=args.sequences // 2,
                                 num_negatives=args.sequences // 2, seed=0)
    data = synthetic.generate(recipe)
    train, valid, test = (data.splits[s] for s in ("train", "validation", "test"))
    monitor = data.x[valid][:200]  # a fixed validation subset whose angles are logged
    positives = test[data.y[test] == 1][:200]

    summary = {}
    for label, strength in (("plain", 0.0), ("regularized", args.strength)):
        keras.utils.set_random_seed(0)  # the same initial weights for both
        model = ks.models.cnn_deep(first_activation="relu")
        trained = model if strength == 0 else ks.add_angle_regularizer(model, strength, logits=True)
        callbacks = [
            # Schedules the strength (a warm-up from 0) and logs the angles every epoch ...
            ks.SimplexAngleCallback(monitor, schedule=ks.warmup(strength, args.warmup_epochs) if strength else None,
                                    logits=True),
            # ... which TensorBoard, listed after it, writes too.
            keras.callbacks.TensorBoard(os.path.join(args.output_dir, "logs", label)),
        ]
        history = ks.train_paper_protocol(trained, (data.x[train], data.y[train]), (data.x[valid], data.y[valid]),
                                          epochs=args.epochs, callbacks=callbacks, seed=0, verbose=0)
        per_epoch = [round(v, 1) for v in history.history["angle_mean_abs"]]
        print(f"{label}: mean |angle| per epoch {per_epoch}")

        # The model itself (not the wrapper) is what you save and explain.
        result = ks.saliency(model, data.x[positives], logits=True, correct=False)
        corrected = ks.saliency(model, data.x[positives], logits=True)
        scores = attribution_report(result, corrected, data.x[positives], data.ground_truth[positives])
        auroc = float(ks.metrics.roc_auc(data.y[test], model.predict(data.x[test], verbose=0)[:, 0]))
        angles = angle_report(ks.gradient_angles(model, data.x[positives], logits=True))
        summary[label] = {"test_auroc": auroc, "angle_mean_abs": angles["mean_abs"],
                          "raw_cosine": scores["raw"]["cosine"], "corrected_cosine": scores["corrected"]["cosine"]}
        print(f"{label}: test AUROC {auroc:.3f}; mean |angle| {angles['mean_abs']:.1f} deg; saliency cosine to the "
              f"truth raw {scores['raw']['cosine']:.3f}, corrected {scores['corrected']['cosine']:.3f}")
        model.save(os.path.join(args.output_dir, f"{label}.keras"))

    with open(os.path.join(args.output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"wrote the models, summary.json and TensorBoard logs to {args.output_dir}")
    return summary


if __name__ == "__main__":
    main()
