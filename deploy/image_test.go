package deploy_test

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileBuildsWithTheScript checks that the image is built by
// tools/build-static (so that TestStaticBinary tests what the image holds)
// and runs it as nonroot on a base with nothing else in it.
func TestDockerfileBuildsWithTheScript(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(regexp.MustCompile(`\\\n\s*`).ReplaceAll(b, []byte(" ")))
	var from, user, entrypoint []string
	var run, copyFrom string
	for _, l := range strings.Split(df, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			from = append(from, l)
		case "USER":
			user = append(user, l)
		case "ENTRYPOINT":
			entrypoint = append(entrypoint, l)
		case "RUN":
			if strings.Contains(l, "tools/build-static") {
				run = l
			}
		case "COPY":
			if strings.HasPrefix(f[1], "--from=") {
				copyFrom = l
			}
		}
	}
	if len(from) < 2 {
		t.Fatalf("want a multi-stage build, have FROM %q", from)
	}
	if last := from[len(from)-1]; !strings.Contains(last, "gcr.io/distroless/static-debian12:nonroot") {
		t.Errorf("the image's base is %q, want gcr.io/distroless/static-debian12:nonroot", last)
	}
	if len(user) == 0 || !regexp.MustCompile(`^USER (65532|nonroot)(:(65532|nonroot))?$`).MatchString(user[len(user)-1]) {
		t.Errorf("last USER %q, want 65532 (nonroot)", user)
	}
	out := regexp.MustCompile(`tools/build-static (\S+)`).FindStringSubmatch(run)
	if out == nil {
		t.Fatal("no RUN builds the binary with tools/build-static OUT")
	}
	if !strings.Contains(copyFrom, " "+out[1]+" ") {
		t.Errorf("%q does not copy the binary %s that tools/build-static wrote", copyFrom, out[1])
	}
	bin := strings.Fields(copyFrom)[len(strings.Fields(copyFrom))-1]
	if len(entrypoint) == 0 || entrypoint[len(entrypoint)-1] != `ENTRYPOINT ["`+bin+`"]` {
		t.Errorf("ENTRYPOINT %q, want the binary %s in exec form", entrypoint, bin)
	}
	// The build context must hold what the script builds from.
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(ignore)) {
		for _, need := range []string{"go.mod", "go.sum", "cmd", "internal", "tools", "tools/build-static"} {
			if ok, _ := filepath.Match(strings.Trim(p, "/"), need); ok {
				t.Errorf(".dockerignore %q leaves %s out of the build context", p, need)
			}
		}
	}
}

// TestStaticBinary builds kmigrate as the image does and checks that it is a
// static, stripped ELF without the test-only Kubernetes modules, and that it
// runs and reports the version it was given.
func TestStaticBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kmigrate")
	const version = "v0.0.0-imagetest"
	build := exec.Command("../tools/build-static", bin)
	build.Env = append(os.Environ(), "VERSION="+version)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("tools/build-static: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a PT_INTERP header: it needs a dynamic loader")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil {
		t.Fatal(err)
	} else if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries (DT_NEEDED): %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -ldflags -s did not strip it")
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	for _, d := range info.Deps {
		if strings.HasPrefix(d.Path, "k8s.io/") || strings.HasPrefix(d.Path, "sigs.k8s.io/") {
			t.Errorf("the binary links %s %s; the Kubernetes modules are for the manifests' tests only", d.Path, d.Version)
		}
	}

	var out bytes.Buffer
	cmd := exec.Command(bin, "version")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kmigrate version: %v\n%s", err, out.String())
	}
	if !strings.HasPrefix(out.String(), "kmigrate "+version+" ") {
		t.Errorf("kmigrate version printed %q, want the version given to the build, %s", out.String(), version)
	}
}
