"""Action-understanding model: a ViCLIP-style video-text recognizer (ROS-free).

Names are imported lazily so that reading a config does not import transformers.
"""
import importlib

_EXPORTS = {
    "RECOGNIZER_PRESETS": "config", "RecognizerConfig": "config",
    "make_recognizer_config": "config",
    "Recognizer": "model", "caption_ids": "model", "sample_frame_indices": "model",
    "ClipTokenizer": "tokenizer", "get_tokenizer": "tokenizer",
    "load_viclip_checkpoint": "viclip_loader", "convert_viclip_state_dict": "viclip_loader",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"mn_models.recognizer.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'mn_models.recognizer' has no attribute {name!r}")
