"""sparselab: core/speech -- speech pieces shared by apps/asr_ddp and apps/msrs (see README.md).

The package re-exports the main names; the espeak-ng library is loaded only when the first
``Synthesizer`` is created.
"""
from core.speech.corpus import CORPUS_SIZES, SPEAKERS, Speaker, build_corpus
from core.speech.datasets import (SkipReport, Utterance, ctc_min_frames, load_manifest, read_audio, scan_librispeech,
                                  validate_utterances)
from core.speech.decoding import ctc_greedy, ctc_prefix_beam_search, decode_batch, joint_beam_search
from core.speech.espeak import SynthResult, Synthesizer, list_variants
from core.speech.features import GlobalCMVN, LogMel, SpecAugment, num_frames
from core.speech.model import CTCAttentionModel, ConformerEncoder, TransformerDecoder, pad_targets, subsampled_length
from core.speech.text import ALPHABET, generate_sentences, normalize_text, split_sentences
from core.speech.tokenizer import CharTokenizer

__all__ = ["CORPUS_SIZES", "SPEAKERS", "Speaker", "build_corpus", "SkipReport", "Utterance", "ctc_min_frames",
           "load_manifest", "read_audio", "scan_librispeech", "validate_utterances", "ctc_greedy",
           "ctc_prefix_beam_search", "decode_batch", "joint_beam_search", "SynthResult", "Synthesizer",
           "list_variants", "GlobalCMVN", "LogMel", "SpecAugment", "num_frames", "CTCAttentionModel",
           "ConformerEncoder", "TransformerDecoder", "pad_targets", "subsampled_length", "ALPHABET",
           "generate_sentences", "normalize_text", "split_sentences", "CharTokenizer"]
