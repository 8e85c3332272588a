"""LightGBM models of the click rate (pCTR) and the conversion rate after a click (pCVR).

- features: the one definition of the features, for training rows and for serving
- dataset: training rows from the logged events, with their labels once they are final
- train: training, calibration and evaluation (also against the simulator's ground truth)
- artifact: a trained model as bytes, checked when loaded
- registry: the active version of each kind, promotion and roll-back
- serving: the scorer the engine calls, which swaps models without a restart
- predictor: fast exact scoring of small batches
"""
