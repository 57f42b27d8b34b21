/// What an SA protects, as the HAC's `mip6-sas` header states it (RFC 6618 §5.6.4).
public enum SecurityAssociationScope: UInt8, Sendable, CaseIterable {
    /// `mip6-sas: 0`: the SA protects signalling only. User data travels as PType 0; a PType 1 datagram
    /// that verifies is still accepted (DESIGN.md, SA scope).
    case signalingOnly = 0
    /// `mip6-sas: 1`: all traffic is protected; a PType 0 datagram is dropped silently and counted.
    case allTraffic = 1
}
