//! L2TP engine (filled below).
