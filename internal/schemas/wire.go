package schemas

import "encoding/binary"

// WireMagic is the first byte of a value in the Confluent wire format.
const WireMagic = 0

// wireHeader is the magic byte and the 4-byte schema id.
const wireHeader = 5

// WireID returns the schema id of a key or value in the Confluent wire format:
// magic byte 0, then the id as a 4-byte big-endian integer, then the encoded
// payload. ok is false when b is too short or does not start with the magic
// byte. A value that only happens to start with a zero byte gives an id too:
// [IDCheck] treats an id that neither registry knows as not framed, not as a
// failure.
func WireID(b []byte) (id int32, ok bool) {
	if len(b) < wireHeader || b[0] != WireMagic {
		return 0, false
	}
	return int32(binary.BigEndian.Uint32(b[1:wireHeader])), true
}

// AppendWire appends the wire-format header for id and then payload to dst.
func AppendWire(dst []byte, id int32, payload []byte) []byte {
	dst = append(dst, WireMagic)
	dst = binary.BigEndian.AppendUint32(dst, uint32(id))
	return append(dst, payload...)
}
