// Package schemas migrates a Confluent-compatible Schema Registry and checks the
// schema ids that migrated records carry.
//
// The model: a registry holds subjects; each subject has numbered versions; each
// version names a schema by a registry-wide id, and that id is what producers
// write into every record (the Confluent wire format: a zero magic byte, then the
// id as 4 bytes big-endian, then the payload). A migration is correct when every
// id found in the target's records resolves, on the target registry, to the same
// schema as on the source. "The same" is decided on a canonical form: the schema
// type, the schema text with insignificant differences removed (JSON key order
// and whitespace for Avro and JSON Schema, runs of whitespace for Protobuf), and
// the references sorted. It is exact for what it compares; two schemas that are
// equivalent only semantically (an Avro "string" against {"type":"string"})
// compare as different, which errs on the side of a reported mismatch.
//
// A registry is read either through its REST API (the Confluent v7 endpoints,
// which Apicurio serves under /apis/ccompat/v7 too) or from its storage topic
// (Confluent's _schemas, a compacted topic of JSON records) on the migration's
// Kafka cluster; both give a [Snapshot]. [Diff] turns two snapshots into a
// [Plan]: what is already on the target and identical, what must be registered
// (with its id and version kept), which settings differ, and every conflict (an
// id or a subject version on the target bound to a different schema). [Apply]
// carries a plan out through the target's REST API in IMPORT mode; a second run
// finds everything in place and does nothing.
package schemas
