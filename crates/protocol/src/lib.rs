//! x402 wire protocol: the v1 and v2 message types, the header codecs and the
//! compliance rules. Pure: no IO, no clock, no network.
