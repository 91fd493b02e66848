// Package ber decodes 3GPP TS 32.298 PGW-CDR and SGW-CDR records encoded in
// ASN.1 BER, bare or inside TS 32.297 CDR files, into metering records.
//
// # Framing
//
// A Decoder reads either a TS 32.297 CDR file (file header, then CDRs each
// behind a CDR header that carries its length) or bare concatenated
// GPRSRecord values. It tells them apart by the first byte: a bare record
// starts with 0xBF (context-specific, constructed, high tag number for
// sgwRecord [78] or pgwRecord [79]); a file starts with its 32-bit length.
// A corrupt record yields a *RecordError with its byte offset and Next goes
// on with the next record: in a file the CDR header gives the length; in a
// bare stream a record whose outer TLV is intact is skipped whole, otherwise
// the decoder scans forward to the next byte pair BF 4E or BF 4F.
//
// # Fields
//
// Tags (TS 32.298 PGWRecord and SGWRecord, checked against the ASN.1 module
// in Wireshark's asn1/gprscdr/GPRSChargingDataTypes.asn, 32.298 v15.5.1):
// servedIMSI [3], p-GWAddress / s-GWAddress [4], chargingID [5],
// accessPointNameNI [7], listOfTrafficVolumes [12], recordOpeningTime [13],
// duration [14], causeForRecClosing [15], recordSequenceNumber [17],
// nodeID [18], localSequenceNumber [20], servedMSISDN [22],
// servingNodePLMNIdentifier [27], servedIMEI(SV) [29], rATType [30] and,
// in the PGW-CDR only, listOfServiceData [34] (in the SGW-CDR [34] is
// sGWChange). Inside ChangeOfCharCondition dataVolumeGPRSUplink is [3] and
// dataVolumeGPRSDownlink [4]; inside ChangeOfServiceCondition
// datavolumeFBCUplink is [12] and datavolumeFBCDownlink [13].
// Unknown tags, vendor tags and tags of other classes are skipped.
//
// Volumes: a PGW-CDR may report the same traffic per bearer
// (listOfTrafficVolumes) and per service (listOfServiceData). Each byte is
// counted once: the sum of listOfTrafficVolumes when that list is present,
// otherwise the sum of listOfServiceData.
//
// Identity: NodeID is nodeID, or the gateway address [4] when nodeID is
// absent. RecordID is localSequenceNumber in decimal; when it is absent,
// NodeID is the gateway address and RecordID is chargingID "/"
// recordSequenceNumber (0 when absent). Sequence is recordSequenceNumber,
// ClosingCause causeForRecClosing. ChargingID and PGWAddress (the gateway
// address [4], the S-GW's in an SGW-CDR) name the bearer: the partial
// records of one bearer share them and are listed as one session. CDRs carry no ICCID: Record.ICCID is left
// empty for the caller to resolve from the IMSI.
//
// servedMSISDN is an ISDN-AddressString whose first octet is the
// type-of-number header; it is dropped when its bit 8 is set. A vendor that
// omits the header and whose second digit is 8 or 9 is misread: the spec
// requires the header, so we follow the spec.
//
// Unsigned INTEGER fields (chargingID, sequence numbers, volumes) are read
// leniently as unsigned big-endian values, because some nodes encode
// 0..2^32-1 in four octets without the leading zero octet.
//
// # Why a hand-written TLV reader
//
// encoding/asn1 accepts DER only (no indefinite lengths) and cannot skip
// unknown members of a SET; go-asn1-ber builds a Packet tree with several
// allocations per element, which costs throughput for nothing we use. The
// reader here works on byte slices without copying, caps every length by
// the bytes that remain, and limits nesting depth, so hostile lengths can
// neither allocate nor recurse without bound. The streaming Decoder grows
// its buffer only as data actually arrives (at most twice what was read).
//
// The package imports the metering domain and the standard library only; it
// must not import storage adapters or other ingest internals.
package ber
