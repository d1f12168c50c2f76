"""Stage one: decoding, optical flow, frozen backbones and the frame and feature stores."""
