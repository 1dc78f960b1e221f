"""From a trained student to hardware artefacts: NIR, Loihi fixed point, netx, emulator, Lava, ONNX."""
