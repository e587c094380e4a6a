package acls

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACL is one access control entry: a resource pattern, a principal, a host, an
// operation and a permission, in the words Kafka uses (TOPIC, LITERAL, WRITE,
// ALLOW).
type ACL struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// Words of ACL fields used by the rules of this package.
const (
	Topic           = "TOPIC"
	Group           = "GROUP"
	Cluster         = "CLUSTER"
	TransactionalID = "TRANSACTIONAL_ID"
	Literal         = "LITERAL"
	Prefixed        = "PREFIXED"
	Allow           = "ALLOW"
	Deny            = "DENY"
	OpAll           = "ALL"
	OpWrite         = "WRITE"
)

// String formats the ACL the way the Kafka tools print one.
func (a ACL) String() string {
	return fmt.Sprintf("%s %s %s on %s:%s:%s from host %s", a.Permission, a.Principal, a.Operation, a.ResourceType, a.PatternType, a.ResourceName, a.Host)
}

func (a ACL) key() string {
	return a.ResourceType + "\x00" + a.ResourceName + "\x00" + a.PatternType + "\x00" + a.Principal + "\x00" + a.Host + "\x00" + a.Operation + "\x00" + a.Permission
}

// Sort orders ACLs by resource, then principal, host, operation and permission.
func Sort(list []ACL) {
	sort.Slice(list, func(i, j int) bool { return list[i].key() < list[j].key() })
}

// Describe lists every ACL of the cluster cl reaches, sorted. Its error is the
// request's or the broker's, unwrapped: callers name the cluster.
func Describe(ctx context.Context, cl *kgo.Client) ([]ACL, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := errorOf(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, err
	}
	out := []ACL{}
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			out = append(out, ACL{
				Principal: a.Principal, Host: a.Host,
				ResourceType: r.ResourceType.String(), ResourceName: r.ResourceName, PatternType: r.ResourcePatternType.String(),
				Operation: a.Operation.String(), Permission: a.PermissionType.String(),
			})
		}
	}
	Sort(out)
	return out, nil
}

// Create creates the ACLs on the cluster cl reaches and returns one error per
// ACL, nil where it was created (or already existed: Kafka treats creating an
// existing ACL as success).
func Create(ctx context.Context, cl *kgo.Client, list []ACL) []error {
	errs := make([]error, len(list))
	if len(list) == 0 {
		return errs
	}
	req := kmsg.NewPtrCreateACLsRequest()
	for i, a := range list {
		c := kmsg.NewCreateACLsRequestCreation()
		w, err := a.wire()
		if err != nil {
			errs[i] = err
			continue
		}
		c.ResourceType, c.ResourceName, c.ResourcePatternType = w.resource, a.ResourceName, w.pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = a.Principal, a.Host, w.op, w.perm
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, cl)
	j := 0
	for i, a := range list {
		if errs[i] != nil {
			continue
		}
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("create acl %s: %w", a, err)
		case j >= len(resp.Results):
			errs[i] = fmt.Errorf("create acl %s: no result in the broker's answer", a)
		default:
			if rerr := errorOf(resp.Results[j].ErrorCode, resp.Results[j].ErrorMessage); rerr != nil {
				errs[i] = fmt.Errorf("create acl %s: %w", a, rerr)
			}
		}
		j++
	}
	return errs
}

// Delete deletes exactly the given ACLs (each filter matches one binding, not a
// pattern family) and returns one error per ACL, nil where it is gone.
func Delete(ctx context.Context, cl *kgo.Client, list []ACL) []error {
	errs := make([]error, len(list))
	if len(list) == 0 {
		return errs
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	for i, a := range list {
		w, err := a.wire()
		if err != nil {
			errs[i] = err
			continue
		}
		f := kmsg.NewDeleteACLsRequestFilter()
		name, principal, host := a.ResourceName, a.Principal, a.Host
		f.ResourceType, f.ResourceName, f.ResourcePatternType = w.resource, &name, w.pattern
		f.Principal, f.Host, f.Operation, f.PermissionType = &principal, &host, w.op, w.perm
		req.Filters = append(req.Filters, f)
	}
	resp, err := req.RequestWith(ctx, cl)
	j := 0
	for i, a := range list {
		if errs[i] != nil {
			continue
		}
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("delete acl %s: %w", a, err)
		case j >= len(resp.Results):
			errs[i] = fmt.Errorf("delete acl %s: no result in the broker's answer", a)
		default:
			if rerr := errorOf(resp.Results[j].ErrorCode, resp.Results[j].ErrorMessage); rerr != nil {
				errs[i] = fmt.Errorf("delete acl %s: %w", a, rerr)
			}
		}
		j++
	}
	return errs
}

// wireACL is an ACL's enums as the protocol encodes them.
type wireACL struct {
	resource kmsg.ACLResourceType
	pattern  kmsg.ACLResourcePatternType
	op       kmsg.ACLOperation
	perm     kmsg.ACLPermissionType
}

func (a ACL) wire() (wireACL, error) {
	var w wireACL
	var errs []error
	var err error
	if w.resource, err = kmsg.ParseACLResourceType(a.ResourceType); err != nil {
		errs = append(errs, err)
	}
	if w.pattern, err = kmsg.ParseACLResourcePatternType(a.PatternType); err != nil {
		errs = append(errs, err)
	}
	if w.op, err = kmsg.ParseACLOperation(a.Operation); err != nil {
		errs = append(errs, err)
	}
	if w.perm, err = kmsg.ParseACLPermissionType(a.Permission); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return w, fmt.Errorf("acl %s: %w", a, errors.Join(errs...))
	}
	return w, nil
}

func errorOf(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	if msg != nil && *msg != "" {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}
