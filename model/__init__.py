"""reviewguard offline pipeline: data, training, evaluation, ONNX export, replay."""
