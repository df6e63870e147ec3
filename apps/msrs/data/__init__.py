"""Embedded audio-visual corpora (GRID-style commands and open-vocabulary sentences: rendered mouths +
espeak-ng speech) and the auto_avsr-format loader."""
from .corpus import AV_SIZES, DATASET_NAME, FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, av_corpus_params, build_av_corpus
from .dataset import MODALITIES, VIDEO_MEAN, VIDEO_STD, AVDataset, collate_av
from .grid_corpus import GRID_NAME, GRID_SIZES, GRID_SPLITS, build_grid_corpus, grid_corpus_params
from .noise import NOISE_TYPES, babble_from_wavs, load_babble_bank, make_noise, mix_at_snr
from .render import Speaker, make_speaker, render_mouth
from .video_io import probe_video, read_video, write_video
from .visemes import VISEME_SHAPES, VISEMES, shapes_for, viseme_of

__all__ = ["AV_SIZES", "DATASET_NAME", "FPS", "SAMPLE_RATE", "SAMPLES_PER_FRAME", "av_corpus_params",
           "build_av_corpus", "GRID_NAME", "GRID_SIZES", "GRID_SPLITS", "build_grid_corpus", "grid_corpus_params",
           "MODALITIES", "VIDEO_MEAN", "VIDEO_STD", "AVDataset", "collate_av", "NOISE_TYPES", "babble_from_wavs",
           "load_babble_bank", "make_noise", "mix_at_snr", "Speaker", "make_speaker", "render_mouth",
           "probe_video", "read_video", "write_video", "VISEME_SHAPES", "VISEMES", "shapes_for", "viseme_of"]
