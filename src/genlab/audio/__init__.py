"""Audio domain: decoding and caching (io), MUSDB18 (musdb), spectrogram transforms (transforms), phase
reconstruction baselines (phase) and chunked processing of long tracks (chunking).

Waveforms are ``(C, S)`` NumPy arrays or ``(N, C, S)`` tensors; spectrograms are ``(N, C, F, T)``.
"""

from genlab.audio.chunking import (
    ChunkPlan,
    merge_chunks,
    plan_chunks,
    process_file_in_chunks,
    process_in_chunks,
    split_chunks,
)
from genlab.audio.io import STEM_STREAMS, AudioWarning, decode_stream, load_stream, read_wav, write_wav
from genlab.audio.musdb import MusdbSource, MusdbTrack, SegmentSampler, musdb_root, validation_track_names
from genlab.audio.phase import griffin_lim, mel_to_linear, oracle_phase
from genlab.audio.transforms import Compression, MelSpectrogram, Normalizer, SpectrogramCodec, SpectrogramConfig, Stft

__all__ = [
    "STEM_STREAMS", "AudioWarning", "ChunkPlan", "Compression", "MelSpectrogram", "MusdbSource", "MusdbTrack",
    "Normalizer", "SegmentSampler", "SpectrogramCodec", "SpectrogramConfig", "Stft", "decode_stream", "griffin_lim",
    "load_stream", "mel_to_linear", "merge_chunks", "musdb_root", "oracle_phase", "plan_chunks",
    "process_file_in_chunks", "process_in_chunks", "read_wav", "split_chunks", "validation_track_names", "write_wav",
]
