package kubernetes_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// overlay is the part of scale-out/kustomization.yaml the directory uses.
type overlay struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Patches    []struct {
		Path string `json:"path"`
	} `json:"patches"`
}

// merge applies a strategic-merge patch (YAML) to obj as kustomize does, and
// decodes the result strictly into out.
func merge(t *testing.T, name string, obj any, patch []byte, out any) {
	t.Helper()
	orig, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	pj, err := yaml.YAMLToJSON(patch)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	merged, err := strategicpatch.StrategicMergePatch(orig, pj, out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	strict(t, name, merged, out)
}

// loadScaleOut is the base with the scale-out overlay's patches applied.
func loadScaleOut(t *testing.T) *manifests {
	t.Helper()
	base := load(t)
	var k overlay
	strict(t, "scale-out/kustomization.yaml", read(t, "scale-out/kustomization.yaml"), &k)
	if !slices.Equal(k.Resources, []string{"../"}) {
		t.Fatalf("scale-out/kustomization.yaml: resources %v, want the base ../ alone", k.Resources)
	}
	files, err := filepath.Glob("scale-out/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return f == "scale-out/kustomization.yaml" })
	var patched []string
	for _, p := range k.Patches {
		patched = append(patched, "scale-out/"+p.Path)
	}
	if slices.Sort(patched); !slices.Equal(patched, files) {
		t.Fatalf("scale-out/kustomization.yaml patches %v, the directory holds %v", patched, files)
	}
	m := *base
	for _, f := range files {
		doc := read(t, f)
		var head struct {
			metav1.TypeMeta   `json:",inline"`
			metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			if head.Name != base.deployment.Name {
				t.Fatalf("%s patches Deployment %s, the base's is %s", f, head.Name, base.deployment.Name)
			}
			m.deployment = &appsv1.Deployment{}
			merge(t, f, base.deployment, doc, m.deployment)
		case "v1 ConfigMap":
			if head.Name != base.configMap.Name {
				t.Fatalf("%s patches ConfigMap %s, the base's is %s", f, head.Name, base.configMap.Name)
			}
			m.configMap = &corev1.ConfigMap{}
			merge(t, f, base.configMap, doc, m.configMap)
		default:
			t.Fatalf("%s: unexpected %s %s", f, head.APIVersion, head.Kind)
		}
	}
	return &m
}

// TestScaleOutOverlay checks deploy/kubernetes/scale-out as kustomize builds
// it: the configuration kmigrate loads shares the migration, several replicas
// run it, an update rolls, and a node drain can still evict a pod without
// taking them all.
func TestScaleOutOverlay(t *testing.T) {
	m := loadScaleOut(t)
	cfg, _ := m.loadConfig(t)
	if !cfg.Replication.ScaleOut {
		t.Fatal("the overlay's configuration does not set replication.scale_out: its replicas would refuse each other")
	}
	replicas := int32(1)
	if r := m.deployment.Spec.Replicas; r != nil {
		replicas = *r
	}
	if replicas < 2 {
		t.Errorf("replicas %d: the overlay is for several processes", replicas)
	}
	s := m.deployment.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil {
		t.Fatalf("strategy %+v: processes of a shared migration can run beside each other, want RollingUpdate", s)
	}
	if u, err := intstr.GetScaledValueFromIntOrPercent(s.RollingUpdate.MaxUnavailable, int(replicas), false); err != nil || u != 0 {
		t.Errorf("maxUnavailable %v: want 0, so that an update starts the new pod before an old one hands over", s.RollingUpdate.MaxUnavailable)
	}
	allowed, err := intstr.GetScaledValueFromIntOrPercent(m.pdb.Spec.MaxUnavailable, int(replicas), true)
	if err != nil {
		t.Fatal(err)
	}
	if allowed < 1 || allowed >= int(replicas) {
		t.Errorf("the budget allows %d evictions of %d replicas: want at least one, and never all", allowed, replicas)
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if float64(grace) <= cfg.Replication.ShutdownTimeout.Duration.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %d does not exceed replication.shutdown_timeout %s", grace, cfg.Replication.ShutdownTimeout.Duration)
	}
	// Everything else is the base's, checked by the other tests.
	if c := m.container(t); c.Image != "kmigrate" || c.ReadinessProbe == nil {
		t.Errorf("the patch replaced the container: %+v", c)
	}
}
