"""Embedded audio-visual corpus (rendered mouths + espeak-ng speech) and the auto_avsr-format loader."""
from .corpus import AV_SIZES, DATASET_NAME, FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, av_corpus_params, build_av_corpus
from .dataset import MODALITIES, VIDEO_MEAN, VIDEO_STD, AVDataset, collate_av
from .noise import NOISE_TYPES, load_babble_bank, make_noise, mix_at_snr
from .render import Speaker, make_speaker, render_mouth
from .video_io import probe_video, read_video, write_video
from .visemes import VISEME_SHAPES, VISEMES, shapes_for, viseme_of

__all__ = ["AV_SIZES", "DATASET_NAME", "FPS", "SAMPLE_RATE", "SAMPLES_PER_FRAME", "av_corpus_params",
           "build_av_corpus", "MODALITIES", "VIDEO_MEAN", "VIDEO_STD", "AVDataset", "collate_av", "NOISE_TYPES",
           "load_babble_bank", "make_noise", "mix_at_snr", "Speaker", "make_speaker", "render_mouth",
           "probe_video", "read_video", "write_video", "VISEME_SHAPES", "VISEMES", "shapes_for", "viseme_of"]
