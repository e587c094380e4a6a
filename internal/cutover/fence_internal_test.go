package cutover

import (
	"strings"
	"testing"

	"github.com/kmigrate/kmigrate/internal/acls"
)

// TestSourceFence: the DENY WRITE ACLs cover every principal an ALLOW WRITE
// or ALL ACL lets write the topic (literal, prefixed or wildcard), never
// kmigrate's own, and everyone where no ACL names a writer.
func TestSourceFence(t *testing.T) {
	allow := func(p, op, pattern, name string) acls.ACL {
		return acls.ACL{Principal: p, Host: "*", ResourceType: acls.Topic, ResourceName: name, PatternType: pattern, Operation: op, Permission: acls.Allow}
	}
	all := []acls.ACL{
		allow("User:alice", acls.OpWrite, acls.Literal, "orders"),
		allow("User:bob", acls.OpAll, acls.Prefixed, "ord"),
		allow("User:carol", "READ", acls.Literal, "orders"),     // reads only
		allow("User:dave", acls.OpWrite, acls.Literal, "*"),     // every topic
		allow("User:kmigrate", acls.OpWrite, acls.Literal, "*"), // kmigrate itself
		allow("User:erin", acls.OpWrite, acls.Literal, "payments-old"),
		{Principal: "User:frank", Host: "*", ResourceType: acls.Topic, ResourceName: "orders", PatternType: acls.Literal, Operation: acls.OpWrite, Permission: acls.Deny},
	}
	fence, notes := sourceFence(all, []string{"orders", "payments"}, "User:kmigrate")
	var got []string
	for _, a := range fence {
		if a.Permission != acls.Deny || a.Operation != acls.OpWrite || a.PatternType != acls.Literal || a.Host != "*" {
			t.Errorf("fence ACL %v is not a literal DENY WRITE from any host", a)
		}
		got = append(got, a.ResourceName+" "+a.Principal)
	}
	want := "orders User:alice,orders User:bob,orders User:dave,payments User:dave"
	if strings.Join(got, ",") != want {
		t.Errorf("fence %v, want %s", got, want)
	}
	if len(notes) != 0 {
		t.Errorf("notes %v, want none: every topic has named writers", notes)
	}

	fence, notes = sourceFence(nil, []string{"logs"}, "")
	if len(fence) != 1 || fence[0].Principal != everyone || len(notes) != 1 || !strings.Contains(notes[0], "super users") {
		t.Errorf("a topic no ACL names: fence %v, notes %v; want DENY for everyone and a note on super users", fence, notes)
	}
}
