//! Reassembly of Diameter messages from a byte stream (TCP).
//!
//! TCP delivers bytes, not messages: one read may hold part of a message, several messages,
//! or the end of one and the start of the next. [`Reassembler`] takes bytes as they come and
//! hands out whole messages. It never buffers more than one message, and never more than
//! [`Reassembler::max_message_len`] bytes of it: it takes from each read only the bytes the
//! current message still needs, learns the message's length from its first 4 bytes
//! (version and Message Length, [`frame_len`]) and refuses a length above the limit before
//! buffering any of its body. A framing error cannot be resynchronised on a stream (there is
//! no marker to find the next message), so after one the reassembler only collects the
//! bytes of the offending header that came with it (for the answer, up to 20) and then stays
//! failed.

use crate::diameter::wire::{frame_len, Error as WireError, HEADER_LEN};

/// Why the stream cannot carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first 4 bytes are not a Diameter version 1 header with a valid Message Length.
    #[error("stream framing: {0}")]
    Wire(WireError),
    /// Message Length above what this peer accepts.
    #[error("Diameter Message Length {length} exceeds the limit of {max} bytes")]
    TooLong { length: usize, max: usize },
}

impl FrameError {
    /// The Result-Code a request with this framing error is answered with:
    /// DIAMETER_UNSUPPORTED_VERSION for a bad version, DIAMETER_INVALID_MESSAGE_LENGTH for a
    /// length that is not a valid one or is above the limit.
    pub fn result_code(&self) -> u32 {
        use crate::diameter::wire::codes::result;
        match self {
            FrameError::Wire(e) => e.result_code().unwrap_or(result::INVALID_MESSAGE_LENGTH),
            FrameError::TooLong { .. } => result::INVALID_MESSAGE_LENGTH,
        }
    }
}

/// What [`Reassembler::next`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message (Message Length bytes).
    Message(Vec<u8>),
    /// The stream is broken; `header` holds the first bytes of the offending message (up to
    /// the 20 of a header, fewer if the peer sent fewer) so a request can be answered.
    Broken { error: FrameError, header: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Collecting a message; `want` is its length once known.
    Collect { want: Option<usize> },
    /// Failed: collecting up to [`HEADER_LEN`] bytes of the offending header.
    Failing(FrameError),
    /// Failed and reported.
    Failed,
}

/// Turns stream reads into whole messages with a bound on what it buffers (see the
/// [module docs](self)).
#[derive(Debug, Clone)]
pub struct Reassembler {
    buf: Vec<u8>,
    max: usize,
    mode: Mode,
}

impl Reassembler {
    /// A reassembler accepting messages of at most `max_message_len` bytes (at least a
    /// header).
    pub fn new(max_message_len: usize) -> Self {
        Reassembler {
            buf: Vec::new(),
            max: max_message_len.max(HEADER_LEN),
            mode: Mode::Collect { want: None },
        }
    }

    /// The largest Message Length accepted.
    pub fn max_message_len(&self) -> usize {
        self.max
    }

    /// Bytes held for the message being collected.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether the stream has failed (nothing more will come out).
    pub fn is_failed(&self) -> bool {
        !matches!(self.mode, Mode::Collect { .. })
    }

    /// Takes bytes from the front of `input` (advancing it) until a message is complete or a
    /// framing error is known, and returns it; `None` when `input` ran out first (the bytes
    /// taken are kept for the next call). After a [`Frame::Broken`] it returns `None` and
    /// consumes everything.
    pub fn next(&mut self, input: &mut &[u8]) -> Option<Frame> {
        loop {
            match &mut self.mode {
                Mode::Failed => {
                    *input = &[];
                    return None;
                }
                Mode::Failing(_) => {
                    // Report with what we have: the full header, or all the peer has sent.
                    self.take(input, HEADER_LEN);
                    *input = &[];
                    if let Mode::Failing(error) = std::mem::replace(&mut self.mode, Mode::Failed) {
                        let header = std::mem::take(&mut self.buf);
                        return Some(Frame::Broken { error, header });
                    }
                    return None;
                }
                Mode::Collect { want: None } => {
                    self.take(input, 4);
                    match frame_len(&self.buf) {
                        Ok(None) => return None,
                        Ok(Some(length)) if length > self.max => {
                            self.mode = Mode::Failing(FrameError::TooLong {
                                length,
                                max: self.max,
                            });
                        }
                        Ok(Some(length)) => self.mode = Mode::Collect { want: Some(length) },
                        Err(e) => self.mode = Mode::Failing(FrameError::Wire(e)),
                    }
                }
                Mode::Collect { want: Some(length) } => {
                    let length = *length;
                    self.take(input, length);
                    if self.buf.len() < length {
                        return None;
                    }
                    self.mode = Mode::Collect { want: None };
                    return Some(Frame::Message(std::mem::take(&mut self.buf)));
                }
            }
        }
    }

    /// Moves bytes from `input` into the buffer until it holds `upto` bytes.
    fn take(&mut self, input: &mut &[u8], upto: usize) {
        let n = upto.saturating_sub(self.buf.len()).min(input.len());
        self.buf.extend_from_slice(&input[..n]);
        *input = &input[n..];
    }
}
