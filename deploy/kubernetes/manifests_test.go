package kubernetes_test

import (
	"bytes"
	"context"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/kmigrate/kmigrate/internal/cli"
	"github.com/kmigrate/kmigrate/internal/config"
)

// kustomization is the part of kustomization.yaml this directory uses;
// decoded strictly, so a key added there must be added here.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []image  `json:"images"`
}

// image is an entry of a kustomization's images: what replaces an image name.
type image struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

// manifests is every object of the directory, decoded strictly.
type manifests struct {
	kust       kustomization
	deployment *appsv1.Deployment
	configMap  *corev1.ConfigMap
	service    *corev1.Service
	pdb        *policyv1.PodDisruptionBudget
}

// load decodes kustomization.yaml and every resource it lists, with unknown
// or duplicate fields an error, and checks that it lists every manifest of
// the directory and each kind once.
func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	strict(t, "kustomization.yaml", read(t, "kustomization.yaml"), &m.kust)
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	if listed := slices.Sorted(slices.Values(m.kust.Resources)); !slices.Equal(listed, files) {
		t.Fatalf("kustomization.yaml lists %v, the directory holds %v", listed, files)
	}
	for _, f := range files {
		for i, doc := range bytes.Split(read(t, f), []byte("\n---")) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s, document %d: %v", f, i, err)
			}
			name := f + "/" + tm.Kind
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				m.deployment = once(t, name, m.deployment)
				strict(t, name, doc, m.deployment)
			case "v1 ConfigMap":
				m.configMap = once(t, name, m.configMap)
				strict(t, name, doc, m.configMap)
			case "v1 Service":
				m.service = once(t, name, m.service)
				strict(t, name, doc, m.service)
			case "policy/v1 PodDisruptionBudget":
				m.pdb = once(t, name, m.pdb)
				strict(t, name, doc, m.pdb)
			case "v1 Secret":
				t.Fatalf("%s: a Secret in the repository; credentials are created with kubectl (README)", f)
			default:
				t.Fatalf("%s, document %d: unexpected %s %s", f, i, tm.APIVersion, tm.Kind)
			}
		}
	}
	for kind, missing := range map[string]bool{"Deployment": m.deployment == nil, "ConfigMap": m.configMap == nil,
		"Service": m.service == nil, "PodDisruptionBudget": m.pdb == nil} {
		if missing {
			t.Fatalf("no %s among %v", kind, files)
		}
	}
	return m
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func strict(t *testing.T, name string, doc []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// once returns a new object of T, failing when one was already decoded.
func once[T any](t *testing.T, name string, seen *T) *T {
	t.Helper()
	if seen != nil {
		t.Fatalf("%s: a second object of this kind", name)
	}
	return new(T)
}

// container is the Deployment's only container.
func (m *manifests) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := m.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(cs))
	}
	return &cs[0]
}

// env is the container's environment as the test sets it: plain values as
// written, values from a Secret as a dummy.
func (m *manifests) env(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range m.container(t).Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "dummy-" + strings.ToLower(e.Name)
		default:
			t.Fatalf("env %s: only plain values and secretKeyRef are expected", e.Name)
		}
	}
	return env
}

// configPath is where the container's kmigrate reads its configuration: the
// --config or -c argument, else KMIGRATE_CONFIG.
func (m *manifests) configPath(t *testing.T) string {
	t.Helper()
	c := m.container(t)
	for i, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		}
		if (a == "--config" || a == "-c") && i+1 < len(c.Args) {
			return c.Args[i+1]
		}
	}
	if p := m.env(t)["KMIGRATE_CONFIG"]; p != "" {
		return p
	}
	t.Fatal("the container names no configuration file (--config or KMIGRATE_CONFIG)")
	return ""
}

// configFile is the ConfigMap's file that the container reads, from the
// volume mounted over the directory of configPath.
func (m *manifests) configFile(t *testing.T) (key string, data []byte) {
	t.Helper()
	path := m.configPath(t)
	dir, file := filepath.Split(path)
	for _, vm := range m.container(t).VolumeMounts {
		if filepath.Clean(vm.MountPath) != filepath.Clean(dir) || vm.SubPath != "" {
			continue
		}
		for _, v := range m.deployment.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			if v.ConfigMap.Name != m.configMap.Name {
				t.Fatalf("volume %s mounts ConfigMap %s, the manifest's is %s", v.Name, v.ConfigMap.Name, m.configMap.Name)
			}
			if len(v.ConfigMap.Items) > 0 {
				t.Fatalf("volume %s: items remap the ConfigMap's keys; the test reads keys as file names", v.Name)
			}
			s, ok := m.configMap.Data[file]
			if !ok {
				t.Fatalf("%s: ConfigMap %s has no key %s (keys %v)", path, m.configMap.Name, file, keys(m.configMap.Data))
			}
			return file, []byte(s)
		}
	}
	t.Fatalf("%s: no ConfigMap volume is mounted at %s", path, dir)
	return "", nil
}

func keys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// loadConfig runs kmigrate's own loader on the mounted file, with exactly the
// container's environment; it returns the configuration and the variables
// the file referenced.
func (m *manifests) loadConfig(t *testing.T) (*config.Config, []string) {
	t.Helper()
	key, data := m.configFile(t)
	env := m.env(t)
	var looked []string
	cfg, err := config.Parse("configmap.yaml:"+key, data, func(name string) (string, bool) {
		looked = append(looked, name)
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("kmigrate's loader refuses the ConfigMap's %s:\n%v", key, err)
	}
	return cfg, looked
}

// containerPort resolves a probe's or the Service's port, by number or name.
func (m *manifests) containerPort(t *testing.T, what string, p intstr.IntOrString) int32 {
	t.Helper()
	for _, cp := range m.container(t).Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	t.Fatalf("%s: port %s is not a port of the container", what, p.String())
	return 0
}

func TestConfigMapIsAConfigKmigrateLoads(t *testing.T) {
	m := load(t)
	cfg, looked := m.loadConfig(t)
	if len(cfg.InlineSecrets) > 0 {
		t.Errorf("the ConfigMap holds credentials itself: %v; take them from the environment (${VAR}) or a file", cfg.InlineSecrets)
	}
	// Every credential the container takes from a Secret is used by the file.
	for _, e := range m.container(t).Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !slices.Contains(looked, e.Name) {
			t.Errorf("env %s comes from Secret %s but the configuration never references ${%s}", e.Name, e.ValueFrom.SecretKeyRef.Name, e.Name)
		}
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if shutdown := cfg.Replication.ShutdownTimeout.Duration; float64(grace) <= shutdown.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %d does not exceed replication.shutdown_timeout %s: the kubelet would kill run before its final checkpoint", grace, shutdown)
	}
}

func TestArgsAreKmigrateFlags(t *testing.T) {
	m := load(t)
	c := m.container(t)
	if len(c.Command) > 0 {
		t.Errorf("command %v replaces the image's entrypoint; only args are expected", c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("args %v: want the run command", c.Args)
	}
	for k, v := range m.env(t) {
		t.Setenv(k, v)
	}
	// cobra parses every flag before it honours --help: an unknown flag or
	// command is an error, and nothing runs.
	help := func(args []string) (string, error) {
		var out, errOut bytes.Buffer
		err := cli.Run(context.Background(), append(slices.Clone(args), "--help"), cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return out.String(), err
	}
	if _, err := help([]string{"run", "--no-such-flag"}); err == nil {
		t.Fatal("an unknown flag passed: this check would miss a wrong argument")
	}
	out, err := help(c.Args)
	if err != nil {
		t.Fatalf("kmigrate %s: %v", strings.Join(c.Args, " "), err)
	}
	if !strings.Contains(out, "kmigrate run [flags]") {
		t.Errorf("kmigrate %s --help is not the help of run:\n%s", strings.Join(c.Args, " "), out)
	}
	// The file the manifests mount is the one kmigrate reads.
	if want := `(default "` + m.configPath(t) + `")`; !strings.Contains(out, want) {
		t.Errorf("run's --config does not default to the mounted file %s with this environment:\n%s", want, out)
	}
	for i, a := range c.Args {
		if a == "--log-format" && (i+1 == len(c.Args) || (c.Args[i+1] != "json" && c.Args[i+1] != "text")) {
			t.Errorf("args %v: --log-format takes text or json", c.Args)
		}
	}
}

func TestProbesAndPorts(t *testing.T) {
	m := load(t)
	cfg, _ := m.loadConfig(t)
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		t.Fatalf("http.listen %q: %v", cfg.HTTP.Listen, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("http.listen %q: the kubelet and the Service reach the pod's IP, not its loopback", cfg.HTTP.Listen)
	}
	listen, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	c := m.container(t)
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/-/healthy"}, {"readinessProbe", c.ReadinessProbe, "/-/ready"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe of %s", p.name, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s: path %s, want %s", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := m.containerPort(t, p.name, p.probe.HTTPGet.Port); int(got) != listen {
			t.Errorf("%s: port %d, kmigrate listens on %d (http.listen %s)", p.name, got, listen, cfg.HTTP.Listen)
		}
	}
	if len(m.service.Spec.Ports) != 1 {
		t.Fatalf("the Service has %d ports, want 1", len(m.service.Spec.Ports))
	}
	if got := m.containerPort(t, "Service", m.service.Spec.Ports[0].TargetPort); int(got) != listen {
		t.Errorf("the Service sends to port %d, kmigrate listens on %d", got, listen)
	}
	if !m.service.Spec.PublishNotReadyAddresses {
		t.Error("the Service hides the pod while /-/ready fails, that is while a backlog is copied: set publishNotReadyAddresses")
	}
}

func TestSelectorsMatch(t *testing.T) {
	m := load(t)
	pod := labels.Set(m.deployment.Spec.Template.Labels)
	for _, s := range []struct {
		what string
		sel  *metav1.LabelSelector
	}{{"Deployment", m.deployment.Spec.Selector}, {"PodDisruptionBudget", m.pdb.Spec.Selector}} {
		sel, err := metav1.LabelSelectorAsSelector(s.sel)
		if err != nil {
			t.Fatalf("%s selector: %v", s.what, err)
		}
		if sel.Empty() || !sel.Matches(pod) {
			t.Errorf("%s selector %q does not select the pod template's labels %v", s.what, sel, pod)
		}
	}
	sel := labels.SelectorFromSet(m.service.Spec.Selector)
	if len(m.service.Spec.Selector) == 0 || !sel.Matches(pod) {
		t.Errorf("Service selector %q does not select the pod template's labels %v", sel, pod)
	}
}

func TestSingleWriter(t *testing.T) {
	m := load(t)
	if r := m.deployment.Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("replicas %v: a second run of a migration is refused, want 1", r)
	}
	if s := m.deployment.Spec.Strategy.Type; s != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q: a rolling update starts the new run beside the old one, want Recreate", s)
	}
}

func TestDisruptionBudgetLetsDrainsThrough(t *testing.T) {
	m := load(t)
	spec := m.pdb.Spec
	replicas := int(*m.deployment.Spec.Replicas)
	// The evictions the budget allows with every pod healthy.
	allowed := 0
	switch {
	case spec.MinAvailable != nil:
		min, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, replicas, true)
		if err != nil {
			t.Fatal(err)
		}
		allowed = replicas - min
	case spec.MaxUnavailable != nil:
		var err error
		if allowed, err = intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, replicas, true); err != nil {
			t.Fatal(err)
		}
	}
	if allowed < 1 {
		t.Errorf("the budget allows %d evictions of %d replicas: a node drain would wait forever", allowed, replicas)
	}
	if p := spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
		t.Errorf("unhealthyPodEvictionPolicy %v: a pod not ready (copying a backlog) must stay evictable, want AlwaysAllow", p)
	}
}

func TestSecurity(t *testing.T) {
	m := load(t)
	pod := m.deployment.Spec.Template.Spec
	c := m.container(t)
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext: want runAsNonRoot: true")
	} else if psc.RunAsUser == nil || *psc.RunAsUser != imageUser(t) {
		t.Errorf("pod runAsUser %v, the image's USER is %d", psc.RunAsUser, imageUser(t))
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container: no securityContext")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container: want readOnlyRootFilesystem: true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container: want allowPrivilegeEscalation: false")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("container: want capabilities.drop [ALL]")
	}
	if a := pod.AutomountServiceAccountToken; a == nil || *a {
		t.Error("kmigrate never calls the Kubernetes API: want automountServiceAccountToken: false")
	}
	for _, v := range pod.Volumes {
		if v.ConfigMap == nil {
			t.Errorf("volume %s is not a ConfigMap: kmigrate writes no file and needs no other volume", v.Name)
		}
	}
}

func TestKustomizationSetsTheImage(t *testing.T) {
	m := load(t)
	c := m.container(t)
	if !slices.ContainsFunc(m.kust.Images, func(i image) bool { return i.Name == c.Image && i.NewName != "" }) {
		t.Errorf("image %q has no newName among kustomization.yaml's images, so the image pushed is never set", c.Image)
	}
}

// imageUser is the numeric USER of the Dockerfile's last stage.
func imageUser(t *testing.T) int64 {
	t.Helper()
	var user string
	for _, l := range strings.Split(string(read(t, "../../Dockerfile")), "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(l), "USER "); ok {
			user = strings.TrimSpace(u)
		}
	}
	uid, err := strconv.ParseInt(strings.Split(user, ":")[0], 10, 64)
	if err != nil {
		t.Fatalf("Dockerfile USER %q: want a numeric uid: %v", user, err)
	}
	return uid
}

func TestResources(t *testing.T) {
	m := load(t)
	c := m.container(t)
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q, ok := req[r]
		l, lok := lim[r]
		if !ok || !lok || q.IsZero() || l.IsZero() {
			t.Errorf("%s: want a request and a limit, have %v and %v", r, req[r], lim[r])
			continue
		}
		if q.Cmp(l) > 0 {
			t.Errorf("%s: request %s above limit %s", r, q.String(), l.String())
		}
	}
	soft, ok := m.env(t)["GOMEMLIMIT"]
	if !ok {
		return
	}
	n, err := goMemLimit(soft)
	if err != nil {
		t.Fatalf("GOMEMLIMIT %q: %v", soft, err)
	}
	memLimit := lim[corev1.ResourceMemory]
	if n >= memLimit.Value() {
		t.Errorf("GOMEMLIMIT %s is not below the memory limit %s", soft, memLimit.String())
	}
	if memReq := req[corev1.ResourceMemory]; n < memReq.Value() {
		t.Errorf("GOMEMLIMIT %s is below the memory request %s: the collector would run hard at the usual size", soft, memReq.String())
	}
}

// goMemLimit parses GOMEMLIMIT as the Go runtime does: a number of bytes with
// an optional B, KiB, MiB, GiB or TiB suffix.
func goMemLimit(s string) (int64, error) {
	mult := int64(1)
	for i, suf := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if v, ok := strings.CutSuffix(s, suf); ok {
			s = v
			mult = int64(1) << (10 * (4 - i))
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// TestSecretExampleCoversEveryKey checks that the README's kubectl create
// secret command creates every key the Deployment reads, in the Secret it
// names: the Secret itself is never in the repository.
func TestSecretExampleCoversEveryKey(t *testing.T) {
	m := load(t)
	readme := string(read(t, "README.md"))
	cmd := regexp.MustCompile(`kubectl create secret generic ([a-z0-9-]+)((?: *\\\n)?(?: +--from-(?:literal|file)=\S+))+`).FindStringSubmatch(readme)
	if cmd == nil {
		t.Fatal("README.md has no `kubectl create secret generic NAME --from-...` command")
	}
	created := map[string]bool{}
	for _, k := range regexp.MustCompile(`--from-(?:literal|file)=([A-Za-z0-9._-]+)=`).FindAllStringSubmatch(cmd[0], -1) {
		created[k[1]] = true
	}
	for _, e := range m.container(t).Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != cmd[1] {
			t.Errorf("env %s reads Secret %s; the README creates %s", e.Name, ref.Name, cmd[1])
		}
		if !created[ref.Key] {
			t.Errorf("env %s reads key %s, which the README's command does not create (it creates %v)", e.Name, ref.Key, created)
		}
		if ref.Optional != nil && *ref.Optional {
			t.Errorf("env %s: a missing credential must keep the pod from starting, not start it without", e.Name)
		}
	}
}
