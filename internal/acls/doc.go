// Package acls moves a migration's ACLs from the source cluster to the target.
//
// It reads every source ACL (topics, groups, transactional ids, the cluster;
// literal and prefixed patterns; allow and deny), keeps those that concern what
// the migration moves, renames their principals (config.ACLs: a table, then
// rewrite rules) and their topic names (the rename rule of package scope; a
// prefixed topic ACL gets its prefix renamed), and compares the result with the
// target's ACLs. Each ACL becomes one row: add, present, held, duplicate,
// skipped, or, for target ACLs nothing on the source produced, extra (left
// alone: kmigrate never deletes an ACL it did not create).
//
// Write held until cutover. ALLOW WRITE on a migrated topic is not created by
// Sync: applications must not write to the target by mistake while the source
// is still live. ALLOW ALL on a migrated topic is created as the operations ALL
// stands for except WRITE (READ, CREATE, DELETE, ALTER, DESCRIBE,
// DESCRIBE_CONFIGS, ALTER_CONFIGS), and the ALL binding itself is held. The
// held bindings are what WriteGrants returns; the cutover's seal step creates
// them (Create) and its rollback deletes them (Delete). DENY ACLs are always
// created at once: they only ever take rights away.
//
// Exact: the rows are the source's and the target's ACLs as the brokers
// answered, and the mapping is deterministic. Not covered: credentials. SCRAM
// credentials cannot be read back from a cluster (only the salted hashes'
// mechanisms and iterations are visible), so they cannot be copied; Plan lists
// every principal with ACLs and says whether it has a SCRAM credential on
// either side, for the operator to create the missing ones.
package acls
