"""TensorFlow CPU candidates: ``tf.nn.conv2d`` in NHWC / HWIO with explicit padding, gradients
by ``tf.GradientTape``, with oneDNN on (``TF_ENABLE_ONEDNN_OPTS=1``) and off (``=0``): the
setting must be fixed before TensorFlow is imported, so each is declared by its plugin and
applied in the plugin's worker. Grouped convolution is a filter of C/g input channels.

TensorFlow is about 1.4 GB: it is not in the default install; ``tox -e frameworks-tf`` (or
``pip install 'conv-oracle[frameworks-tf]'``) brings it.
"""
from __future__ import annotations

from conv_oracle import Capabilities, DirectSum

from .base import FrameworkPlugin


def run_tensorflow(x, w, b, gy, stride, padding, dilation, groups):
    """tf.nn.conv2d(NHWC x, HWIO w, explicit padding) (+ bias); gy None: forward only, else GradientTape."""
    import numpy as np
    import tensorflow as tf

    (pt, pb), (pl, pr) = padding
    xt, wt = tf.constant(x), tf.constant(w)
    bt = None if b is None else tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt] + ([bt] if bt is not None else []))
        y = tf.nn.conv2d(xt, wt, strides=[1, *stride, 1], padding=[[0, 0], [pt, pb], [pl, pr], [0, 0]],
                         data_format="NHWC", dilations=[1, *dilation, 1])
        if bt is not None:
            y = tf.nn.bias_add(y, bt, data_format="NHWC")
    out = {"y": np.array(y)}
    if gy is not None:
        leaves = [xt, wt] + ([bt] if bt is not None else [])
        grads = tape.gradient(y, leaves, output_gradients=tf.constant(gy))
        out["dx"], out["dw"] = np.array(grads[0]), np.array(grads[1])
        if bt is not None:
            out["db"] = np.array(grads[2])
    return out


class TensorFlowCandidate(FrameworkPlugin):
    requires = ("tensorflow",)
    install = "pip install 'conv-oracle[frameworks-tf]'  (or: tox -e frameworks-tf)"
    layout = "NHWC"
    run = run_tensorflow
    standalone = (run_tensorflow,)
    # forward: grouped and dilated too; the CPU gradient kernels have neither ("Gradients for grouped
    # convolutions are not supported on CPU", "Current CPU implementations do not yet support dilation rates
    # larger than 1"): those cases are checked forward only
    capabilities = Capabilities(dtypes=("float32",), max_elements=200_000,
                                backward_limits=Capabilities(groups=False, max_dilation=1))
    error_model = DirectSum()
    backward_method = "tf.GradientTape (not for grouped or dilated cases: no CPU gradient kernel)"

    def setup(self) -> None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    def library_settings(self) -> dict:
        import os

        import tensorflow as tf

        return {"TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                "onednn_enabled_in_build": getattr(tf.sysconfig, "get_build_info", dict)().get("is_onednn", None),
                "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}


class TensorFlowOneDNN(TensorFlowCandidate):
    name = "tensorflow"
    description = "tf.nn.conv2d (NHWC, explicit padding), tf.GradientTape, CPU, oneDNN on (TF_ENABLE_ONEDNN_OPTS=1)"
    environment = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


class TensorFlowNoOneDNN(TensorFlowCandidate):
    name = "tensorflow-no-onednn"
    description = "tf.nn.conv2d (NHWC, explicit padding), tf.GradientTape, CPU, oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)"
    environment = {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
