package replicate

import (
	"fmt"
	"testing"
)

func tps(topic string, ps ...int32) []TP {
	out := make([]TP, len(ps))
	for i, p := range ps {
		out[i] = TP{Topic: topic, Partition: p}
	}
	return out
}

func seq(n int32) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// checkPlan checks the rules every plan keeps: nobody gets a partition another
// member still owns, nobody gets a partition twice, the plan stays within the
// shares.
func checkPlan(t *testing.T, members []memberState, all []TP, plan map[string][]TP) {
	t.Helper()
	owner := map[TP]string{}
	for _, m := range members {
		for _, tp := range m.owned {
			owner[tp] = m.id
		}
	}
	got := map[TP]string{}
	for id, ps := range plan {
		if len(ps) > (len(all)+len(members)-1)/len(members) {
			t.Errorf("member %s got %d partitions, more than ⌈%d/%d⌉", id, len(ps), len(all), len(members))
		}
		for _, tp := range ps {
			if prev, ok := got[tp]; ok {
				t.Errorf("%v given to %s and %s", tp, prev, id)
			}
			got[tp] = id
			if o, ok := owner[tp]; ok && o != id {
				t.Errorf("%v given to %s while %s still owns it", tp, id, o)
			}
		}
	}
}

func TestBalanceFirstAssignment(t *testing.T) {
	all := tps("a", seq(10)...)
	members := []memberState{{id: "m1"}, {id: "m2"}, {id: "m3"}}
	plan := balance(members, all)
	checkPlan(t, members, all, plan)
	n := 0
	for _, ps := range plan {
		if len(ps) < 3 || len(ps) > 4 {
			t.Errorf("shares %v: want 3 or 4 each", plan)
		}
		n += len(ps)
	}
	if n != 10 {
		t.Errorf("%d of 10 partitions assigned", n)
	}
}

// A member that joins gets partitions in two rounds: first they are taken
// from their owners, then, once nobody owns them, given to it.
func TestBalanceCooperativeJoin(t *testing.T) {
	all := tps("a", seq(9)...)
	m1 := memberState{id: "m1", owned: all}
	joiner := memberState{id: "m2"}
	round1 := balance([]memberState{m1, joiner}, all)
	checkPlan(t, []memberState{m1, joiner}, all, round1)
	if len(round1["m2"]) != 0 {
		t.Fatalf("the joiner got %v in the round that takes them from their owner", round1["m2"])
	}
	if len(round1["m1"]) != 5 {
		t.Fatalf("the owner keeps %d, want 5 (sticky, the larger share)", len(round1["m1"]))
	}
	// m1 let go of the others and rejoined.
	m1.owned = round1["m1"]
	round2 := balance([]memberState{m1, joiner}, all)
	checkPlan(t, []memberState{m1, joiner}, all, round2)
	if fmt.Sprint(round2["m1"]) != fmt.Sprint(round1["m1"]) || len(round2["m2"]) != 4 {
		t.Fatalf("round 2: %v", round2)
	}
}

// A member that left (or was expired) leaves its partitions free: they go to
// the others in the same round.
func TestBalanceMemberGone(t *testing.T) {
	all := append(tps("a", seq(4)...), tps("b", seq(2)...)...)
	m1 := memberState{id: "m1", owned: all[:3]}
	m2 := memberState{id: "m2", owned: all[3:4]}
	plan := balance([]memberState{m1, m2}, all)
	checkPlan(t, []memberState{m1, m2}, all, plan)
	if len(plan["m1"])+len(plan["m2"]) != 6 || len(plan["m1"]) != 3 {
		t.Fatalf("plan %v", plan)
	}
}

// A partition two members report (one of them stale) goes to neither, and a
// partition that no longer exists to nobody.
func TestBalanceConflictAndGone(t *testing.T) {
	all := tps("a", 0, 1)
	m1 := memberState{id: "m1", owned: tps("a", 0, 7)}
	m2 := memberState{id: "m2", owned: tps("a", 0)}
	plan := balance([]memberState{m1, m2}, all)
	for id, ps := range plan {
		for _, tp := range ps {
			if tp.Partition == 0 || tp.Partition == 7 {
				t.Errorf("%s got %v", id, tp)
			}
		}
	}
	if len(plan["m1"])+len(plan["m2"]) != 1 {
		t.Errorf("plan %v: want a/1 given out", plan)
	}
}
