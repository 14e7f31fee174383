import numpy as np
import keras_simplex as ks

model = ks.models.cnn_deep(input_length=200)  # or keras.saving.load_model("my_model.keras")
x = ks.one_hot_encode(["ACGGTCA" * 28 + "ACGT", "TTGACGCA" * 25])  # (2, 200, 4)

explainer = ks.Explainer(model, logits=True)  # compiled once, reused for every batch and method
result = explainer.saliency(x)  # Attribution: .corrected, .raw (2, 200, 4) and .angles (2, 200)
print("mean |angle|:", np.abs(result.angles).mean(axis=1), "degrees")
print("positions above 30/45/60 degrees:", ks.large_angle_fraction(result.angles).numpy())
eg = explainer.expected_gradients(x, num_baselines=10, steps=20).corrected  # same compiled engine
ig = ks.integrated_gradients(explainer, x, steps=20)  # the functional API, on the same explainer
