"""Neural vocoder family ("vocos"): log-mel → STFT magnitude and phase → iSTFT, with MR-STFT + adversarial losses."""
