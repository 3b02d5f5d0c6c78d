//! The sync protocol (`/covenant/<network id>/sync/1`, request-response): status exchange, block
//! ranges, and point-to-point consensus messages. The wire format is small and hand-written so
//! that every length is checked against a limit before anything is allocated for it.
//!
//! ```text
//! request  := 0x00 height:u64                      Status (the sender's height)
//!           | 0x01 from_height:u64 max_count:u32   GetBlocks
//!           | 0x02 bytes...                        Consensus (point to point; rest of the stream)
//! response := 0x00 height:u64 time_ms:u64          Status (the responder's height and wall clock)
//!           | 0x01 count:u32 (len:u32 bytes)*      Blocks
//!           | 0x02                                 Ack (of a point-to-point consensus message)
//!           | 0x03                                 Unavailable (busy, or the node did not answer)
//! ```
//! Integers are big-endian. A frame is the whole stream: the writer closes its side after it.

use std::io;

use futures::prelude::*;
use libp2p::StreamProtocol;
use libp2p::request_response;

use crate::limits::{
    BLOCK_RESPONSE_BYTES_MAX, BLOCKS_PER_REQUEST_MAX, CONSENSUS_PAYLOAD_BYTES_MAX, REQUEST_FRAME_BYTES_MAX,
    RESPONSE_FRAME_BYTES_MAX,
};

/// A request for a range of blocks: `max_count` blocks starting at `from_height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetBlocks {
    /// First height wanted.
    pub from_height: u64,
    /// Most blocks wanted (1 to [`BLOCKS_PER_REQUEST_MAX`]).
    pub max_count: u32,
}

/// A request on the sync protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The sender's status: its committed height.
    Status {
        /// Its last committed height.
        height: u64,
    },
    /// Committed blocks, from a height on.
    GetBlocks(GetBlocks),
    /// A consensus message sent point to point.
    Consensus(Vec<u8>),
    /// Not a request of the protocol (malformed or oversized frame). Never sent; produced by the
    /// codec on receipt, because request-response does not report inbound decoding errors to the
    /// behaviour, and the network must know in order to disconnect the sender.
    Malformed(String),
}

/// A response on the sync protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The responder's status.
    Status {
        /// Its last committed height.
        height: u64,
        /// Its wall clock when it answered (ms since the Unix epoch), from which the requester
        /// estimates its clock offset.
        time_ms: u64,
    },
    /// Encoded commit certificates, in height order.
    Blocks(Vec<Vec<u8>>),
    /// A point-to-point consensus message was received.
    Ack,
    /// Busy, or the node did not answer.
    Unavailable,
}

const TAG_STATUS: u8 = 0;
const TAG_BLOCKS: u8 = 1;
const TAG_CONSENSUS_OR_ACK: u8 = 2;
const TAG_UNAVAILABLE: u8 = 3;

fn invalid(detail: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail.into())
}

/// Reads the whole stream, refusing more than `max` bytes.
///
/// An empty stream is `UnexpectedEof`, not `InvalidData`: it is what a peer that closes without
/// answering (shutting down, or dropping a request) produces, and is no misbehaviour. Only
/// `InvalidData` (oversized or malformed frames) gets a peer disconnected.
async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut frame = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    io.take(limit).read_to_end(&mut frame).await?;
    if frame.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream closed without a frame"));
    }
    if frame.len() > max {
        return Err(invalid(format!("frame longer than {max} bytes")));
    }
    Ok(frame)
}

/// A cursor over a received frame; every read is bounds checked.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> io::Result<&'a [u8]> {
        if self.bytes.len() < count {
            return Err(invalid("frame truncated"));
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> io::Result<u32> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(buf))
    }

    fn u64(&mut self) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(buf))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn end(&self) -> io::Result<()> {
        if self.bytes.is_empty() { Ok(()) } else { Err(invalid("trailing bytes after frame")) }
    }
}

/// The frame of a request.
pub fn encode_request(request: &Request) -> Vec<u8> {
    match request {
        Request::Status { height } => {
            let mut out = vec![TAG_STATUS];
            out.extend_from_slice(&height.to_be_bytes());
            out
        }
        Request::GetBlocks(GetBlocks { from_height, max_count }) => {
            let mut out = vec![TAG_BLOCKS];
            out.extend_from_slice(&from_height.to_be_bytes());
            out.extend_from_slice(&max_count.to_be_bytes());
            out
        }
        Request::Consensus(bytes) => {
            let mut out = Vec::with_capacity(1 + bytes.len());
            out.push(TAG_CONSENSUS_OR_ACK);
            out.extend_from_slice(bytes);
            out
        }
        // Never sent: an empty frame, which the receiver reads as "closed without a request".
        Request::Malformed(_) => Vec::new(),
    }
}

/// A request from its frame; malformed or over-limit frames are errors.
pub fn decode_request(frame: &[u8]) -> io::Result<Request> {
    let mut reader = Reader { bytes: frame };
    let request = match reader.u8()? {
        TAG_STATUS => Request::Status { height: reader.u64()? },
        TAG_BLOCKS => {
            let from_height = reader.u64()?;
            let max_count = reader.u32()?;
            if max_count == 0 || max_count > BLOCKS_PER_REQUEST_MAX {
                return Err(invalid(format!("asks for {max_count} blocks, 1 to {BLOCKS_PER_REQUEST_MAX} allowed")));
            }
            Request::GetBlocks(GetBlocks { from_height, max_count })
        }
        TAG_CONSENSUS_OR_ACK => {
            let bytes = reader.rest();
            if bytes.len() > CONSENSUS_PAYLOAD_BYTES_MAX {
                return Err(invalid("consensus payload over its limit"));
            }
            Request::Consensus(bytes.to_vec())
        }
        tag => return Err(invalid(format!("unknown request tag {tag}"))),
    };
    reader.end()?;
    Ok(request)
}

/// The frame of a response.
pub fn encode_response(response: &Response) -> Vec<u8> {
    match response {
        Response::Status { height, time_ms } => {
            let mut out = vec![TAG_STATUS];
            out.extend_from_slice(&height.to_be_bytes());
            out.extend_from_slice(&time_ms.to_be_bytes());
            out
        }
        Response::Blocks(blocks) => {
            let body: usize = blocks.iter().map(|block| 4 + block.len()).sum();
            let mut out = Vec::with_capacity(5 + body);
            out.push(TAG_BLOCKS);
            // Counts and lengths fit: responses are cut to the limits before they get here.
            out.extend_from_slice(&u32::try_from(blocks.len()).unwrap_or(u32::MAX).to_be_bytes());
            for block in blocks {
                out.extend_from_slice(&u32::try_from(block.len()).unwrap_or(u32::MAX).to_be_bytes());
                out.extend_from_slice(block);
            }
            out
        }
        Response::Ack => vec![TAG_CONSENSUS_OR_ACK],
        Response::Unavailable => vec![TAG_UNAVAILABLE],
    }
}

/// The length of a request's frame on the wire ([`encode_request`]'s length, without encoding it).
pub fn request_frame_bytes(request: &Request) -> usize {
    match request {
        Request::Status { .. } => 1 + 8,
        Request::GetBlocks(_) => 1 + 8 + 4,
        Request::Consensus(bytes) => 1 + bytes.len(),
        // What arrived was not a request; its length is unknown and it is counted as one byte.
        Request::Malformed(_) => 1,
    }
}

/// The length of a response's frame on the wire ([`encode_response`]'s length, without encoding
/// it).
pub fn response_frame_bytes(response: &Response) -> usize {
    match response {
        Response::Status { .. } => 1 + 8 + 8,
        Response::Blocks(blocks) => 1 + 4 + blocks.iter().map(|block| 4 + block.len()).sum::<usize>(),
        Response::Ack | Response::Unavailable => 1,
    }
}

/// A response from its frame; malformed or over-limit frames are errors.
pub fn decode_response(frame: &[u8]) -> io::Result<Response> {
    let mut reader = Reader { bytes: frame };
    let response = match reader.u8()? {
        TAG_STATUS => Response::Status { height: reader.u64()?, time_ms: reader.u64()? },
        TAG_BLOCKS => {
            let count = reader.u32()?;
            if count > BLOCKS_PER_REQUEST_MAX {
                return Err(invalid(format!("{count} blocks, at most {BLOCKS_PER_REQUEST_MAX}")));
            }
            let mut blocks = Vec::with_capacity(count as usize);
            let mut total = 0usize;
            for _ in 0..count {
                let len = reader.u32()? as usize;
                total = total.saturating_add(len);
                if total > BLOCK_RESPONSE_BYTES_MAX {
                    return Err(invalid("block response over its limit"));
                }
                blocks.push(reader.take(len)?.to_vec());
            }
            Response::Blocks(blocks)
        }
        TAG_CONSENSUS_OR_ACK => Response::Ack,
        TAG_UNAVAILABLE => Response::Unavailable,
        tag => return Err(invalid(format!("unknown response tag {tag}"))),
    };
    reader.end()?;
    Ok(response)
}

/// The request-response codec of the sync protocol.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncCodec;

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let decoded = read_frame(io, REQUEST_FRAME_BYTES_MAX).await.and_then(|frame| decode_request(&frame));
        match decoded {
            Err(error) if error.kind() == io::ErrorKind::InvalidData => Ok(Request::Malformed(error.to_string())),
            other => other,
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_response(&read_frame(io, RESPONSE_FRAME_BYTES_MAX).await?)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, request: Request) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_request(&request)).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, response: Response) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_response(&response)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let requests = [
            Request::Status { height: 7 },
            Request::GetBlocks(GetBlocks { from_height: 3, max_count: 10 }),
            Request::Consensus(vec![1, 2, 3]),
            Request::Consensus(Vec::new()),
        ];
        for request in requests {
            assert_eq!(request_frame_bytes(&request), encode_request(&request).len(), "{request:?}");
            assert_eq!(decode_request(&encode_request(&request)).expect("decodes"), request);
        }
        let responses = [
            Response::Status { height: u64::MAX, time_ms: 1_700_000_000_000 },
            Response::Blocks(vec![vec![9; 5], Vec::new(), vec![1]]),
            Response::Blocks(Vec::new()),
            Response::Ack,
            Response::Unavailable,
        ];
        for response in responses {
            assert_eq!(response_frame_bytes(&response), encode_response(&response).len(), "{response:?}");
            assert_eq!(decode_response(&encode_response(&response)).expect("decodes"), response);
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let bad_requests: [&[u8]; 6] = [
            &[],
            &[0, 1],
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[9],
            &[0; 10],
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ];
        for frame in bad_requests {
            assert!(decode_request(frame).is_err(), "{frame:?}");
        }
        // A block count over the limit, a length running past the end, trailing bytes.
        let bad_responses: [&[u8]; 4] = [&[1, 0xff, 0xff, 0xff, 0xff], &[1, 0, 0, 0, 1, 0, 0, 0, 9, 1], &[2, 0], &[]];
        for frame in bad_responses {
            assert!(decode_response(frame).is_err(), "{frame:?}");
        }
    }

    #[test]
    fn a_block_response_over_the_byte_limit_is_refused_before_allocation() {
        let mut frame = vec![TAG_BLOCKS, 0, 0, 0, 1];
        let too_long = u32::try_from(BLOCK_RESPONSE_BYTES_MAX + 1).expect("fits");
        frame.extend_from_slice(&too_long.to_be_bytes());
        assert!(decode_response(&frame).is_err());
    }

    #[tokio::test]
    async fn the_codec_turns_bad_requests_into_malformed_and_keeps_eof_an_error() {
        use request_response::Codec;
        let protocol = StreamProtocol::new("/covenant/test/sync/1");
        let mut input: &[u8] = &[9, 9, 9];
        let request = SyncCodec.read_request(&protocol, &mut input).await.expect("reported, not an io error");
        assert!(matches!(request, Request::Malformed(_)), "{request:?}");
        let mut empty: &[u8] = &[];
        assert!(SyncCodec.read_request(&protocol, &mut empty).await.is_err());
        let mut good: &[u8] = &encode_request(&Request::Status { height: 5 });
        assert_eq!(SyncCodec.read_request(&protocol, &mut good).await.expect("decodes"), Request::Status { height: 5 });
    }

    #[tokio::test]
    async fn frames_longer_than_the_limit_are_refused() {
        let mut input: &[u8] = &[0u8; 100];
        assert!(read_frame(&mut input, 99).await.is_err());
        let mut input: &[u8] = &[0u8; 100];
        assert_eq!(read_frame(&mut input, 100).await.expect("fits").len(), 100);
        let mut empty: &[u8] = &[];
        let error = read_frame(&mut empty, 100).await.expect_err("empty");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
