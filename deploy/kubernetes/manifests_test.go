package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// example is the server the manifests run, relative to this directory.
const example = "../../examples/httpserver"

// pendingFlags are flags the manifests pass that the example does not
// define yet, with why. Each is checked like the others once it exists.
var pendingFlags = map[string]string{}

// manifests is what the YAML files of this directory hold, by kind.
type manifests struct {
	deployments []*appsv1.Deployment
	configMaps  []*corev1.ConfigMap
	services    []*corev1.Service
}

// decode decodes each document of a YAML stream strictly into the type of
// its apiVersion and kind, adding it to m; name says where it came from.
func (m *manifests) decode(name string, data []byte) error {
	for i, doc := range splitDocuments(data) {
		where := fmt.Sprintf("%s: document %d", name, i+1)
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			d := &appsv1.Deployment{}
			m.deployments, obj = append(m.deployments, d), d
		case "v1 ConfigMap":
			c := &corev1.ConfigMap{}
			m.configMaps, obj = append(m.configMaps, c), c
		case "v1 Service":
			s := &corev1.Service{}
			m.services, obj = append(m.services, s), s
		default:
			return fmt.Errorf("%s: apiVersion %q kind %q is not one these manifests use (apps/v1 Deployment, v1 ConfigMap, v1 Service; no RBAC)",
				where, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return fmt.Errorf("%s (%s): %w", where, tm.Kind, err)
		}
	}
	return nil
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocuments splits a YAML stream at its "---" lines, dropping
// documents that hold only comments and blank lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range separator.Split(string(data), -1) {
		for _, line := range strings.Split(doc, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				docs = append(docs, []byte(doc))
				break
			}
		}
	}
	return docs
}

// loadManifests decodes every *.yaml file of this directory.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml files")
	}
	m := &manifests{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.decode(f, data); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(m.deployments))
	}
	return m
}

// server is what the manifests are checked against: the example's flags
// and routes, and the sample patches.
type server struct {
	flags   map[string]bool   // names of the flags main.go defines
	routes  []string          // ServeMux patterns, method stripped
	samples map[string][]byte // patches.sample/*.go by name
}

// loadServer reads the example's source: the flags from main.go
// (fs.String("addr", ...) and the like), the routes from server.go
// (mux.Handle("GET /greet", ...)).
func loadServer(t *testing.T) *server {
	t.Helper()
	s := &server{flags: map[string]bool{}, samples: map[string][]byte{}}
	fset := token.NewFileSet()
	for _, name := range []string{"main.go", "server.go"} {
		f, err := parser.ParseFile(fset, filepath.Join(example, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			switch x, _ := sel.X.(*ast.Ident); {
			case x != nil && x.Name == "fs" && len(call.Args) == 3:
				s.flags[v] = true
			case x != nil && x.Name == "mux" && (sel.Sel.Name == "Handle" || sel.Sel.Name == "HandleFunc"):
				if _, p, ok := strings.Cut(v, " "); ok {
					v = p
				}
				s.routes = append(s.routes, v)
			}
			return true
		})
	}
	if len(s.flags) == 0 || len(s.routes) == 0 {
		t.Fatalf("found %d flags and %d routes in %s: has its source changed shape?", len(s.flags), len(s.routes), example)
	}
	samples, err := filepath.Glob(filepath.Join(example, "patches.sample", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range samples {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s.samples[filepath.Base(p)] = data
	}
	return s
}

// serves reports whether the example answers path (its query dropped).
func (s *server) serves(p string) bool {
	p, _, _ = strings.Cut(p, "?")
	for _, r := range s.routes {
		if r == p || strings.HasSuffix(r, "/") && strings.HasPrefix(p, r) {
			return true
		}
	}
	return false
}

// args parses the container's "-name=value" arguments.
func args(c *corev1.Container) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		if !strings.HasPrefix(a, "-") {
			continue // the binary in Command
		}
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			return nil, fmt.Errorf("argument %q: write flags as -name=value, so that each is one list item", a)
		}
		out[name] = value
	}
	return out, nil
}

// mountOf returns the mount of c whose path holds p, the deepest one.
func mountOf(c *corev1.Container, p string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		vm := &c.VolumeMounts[i]
		if (p == vm.MountPath || strings.HasPrefix(p, strings.TrimSuffix(vm.MountPath, "/")+"/")) &&
			(best == nil || len(vm.MountPath) > len(best.MountPath)) {
			best = vm
		}
	}
	return best
}

func volume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// writableEmptyDir reports an error unless p lies on an emptyDir volume
// mounted read-write in c.
func writableEmptyDir(spec *corev1.PodSpec, c *corev1.Container, p, what string) error {
	vm := mountOf(c, p)
	if vm == nil {
		return fmt.Errorf("%s %s is on no mounted volume (the root file system is read-only or lost with the container)", what, p)
	}
	v := volume(spec, vm.Name)
	if v == nil || v.EmptyDir == nil || vm.ReadOnly {
		return fmt.Errorf("%s %s is on volume %q mounted at %s, which is not a writable emptyDir", what, p, vm.Name, vm.MountPath)
	}
	return nil
}

// check returns every broken invariant of m, against the example s.
func check(m *manifests, s *server) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	configMaps := map[string]*corev1.ConfigMap{}
	for _, cm := range m.configMaps {
		configMaps[cm.Name] = cm
	}
	for _, d := range m.deployments {
		spec := &d.Spec.Template.Spec
		where := "Deployment " + d.Name
		if d.Name == "" {
			fail("a Deployment has no name")
		}
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
			fail("%s: no selector", where)
		} else {
			for k, v := range d.Spec.Selector.MatchLabels {
				if d.Spec.Template.Labels[k] != v {
					fail("%s: the selector's %s=%s is not on the pod template", where, k, v)
				}
			}
		}
		if a := spec.AutomountServiceAccountToken; a == nil || *a {
			fail("%s: automountServiceAccountToken must be false: the server needs no Kubernetes API access", where)
		}
		if len(spec.Containers) != 1 {
			fail("%s: %d containers, want 1", where, len(spec.Containers))
			continue
		}
		c := &spec.Containers[0]
		where += ", container " + c.Name

		// The image: a pinned tag or a digest.
		if !imagePinned(c.Image) {
			fail("%s: image %q must name a version (a tag other than latest, or a digest)", where, c.Image)
		}

		// Volumes: each mount names one, each one is mounted, each
		// ConfigMap exists here.
		for _, vm := range c.VolumeMounts {
			if volume(spec, vm.Name) == nil {
				fail("%s: volumeMount %q names no volume", where, vm.Name)
			}
		}
		for _, v := range spec.Volumes {
			if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == v.Name }) {
				fail("%s: volume %q is not mounted", where, v.Name)
			}
			if v.ConfigMap != nil {
				if _, ok := configMaps[v.ConfigMap.Name]; !ok {
					fail("%s: volume %q refers to ConfigMap %q, which these manifests do not define", where, v.Name, v.ConfigMap.Name)
				}
			}
		}

		// Flags: each one the example defines (or is about to).
		flags, err := args(c)
		if err != nil {
			fail("%s: %v", where, err)
		}
		for name := range flags {
			if !s.flags[name] && pendingFlags[name] == "" {
				fail("%s: flag -%s is not one the example defines (examples/httpserver/main.go)", where, name)
			}
		}

		// The patch directory is the ConfigMap's mount, read-only, in
		// full (no subPath, which the kubelet never updates).
		patches := flags["patches"]
		if vm := mountOf(c, patches); patches == "" || vm == nil || vm.MountPath != patches {
			fail("%s: -patches=%q is not the mount path of a volume", where, patches)
		} else if v := volume(spec, vm.Name); v == nil || v.ConfigMap == nil {
			fail("%s: the patch directory %s is volume %q, not a ConfigMap", where, patches, vm.Name)
		} else if vm.SubPath != "" || vm.SubPathExpr != "" || !vm.ReadOnly {
			fail("%s: the ConfigMap at %s must be mounted whole (no subPath: its updates would never arrive) and readOnly", where, patches)
		}

		// The state directory (the journal) is the default, beside the
		// patch directory, on an emptyDir.
		if sd, ok := flags["state-dir"]; ok {
			if err := writableEmptyDir(spec, c, sd, "the state directory"); err != nil {
				fail("%s: %v", where, err)
			}
		} else if patches != "" {
			if err := writableEmptyDir(spec, c, path.Clean(patches)+".state", "the state directory (the default, beside -patches)"); err != nil {
				fail("%s: %v", where, err)
			}
		}

		// The admin socket is on a writable volume, and the CLI in
		// kubectl exec finds it through HOTPATCH_ADDR.
		sock := flags["admin-socket"]
		if sock == "" {
			fail("%s: no -admin-socket: kubectl exec ... hotpatch has no server to talk to", where)
		} else {
			if err := writableEmptyDir(spec, c, sock, "the admin socket"); err != nil {
				fail("%s: %v", where, err)
			}
			if len(sock) >= 108 {
				fail("%s: the admin socket path %s is %d bytes; the kernel takes at most 107", where, sock, len(sock))
			}
			addr := ""
			for _, e := range c.Env {
				if e.Name == "HOTPATCH_ADDR" {
					addr = e.Value
				}
			}
			if addr != "unix://"+sock {
				fail("%s: HOTPATCH_ADDR is %q, want %q (the -admin-socket)", where, addr, "unix://"+sock)
			}
		}

		// A read-only root needs a writable /tmp: native patches are
		// copied there before they are opened.
		if sc := c.SecurityContext; sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
			if err := writableEmptyDir(spec, c, "/tmp", "the temporary directory"); err != nil {
				fail("%s: %v", where, err)
			}
		}

		// The listening port is the container port the probes use.
		port := -1
		if _, p, ok := strings.Cut(flags["addr"], ":"); ok {
			port, _ = strconv.Atoi(p)
		}
		if port <= 0 {
			fail("%s: -addr=%q must listen on all interfaces with a port (\":8080\"): the kubelet probes the pod's IP, not 127.0.0.1", where, flags["addr"])
		} else if h, _, _ := strings.Cut(flags["addr"], ":"); h != "" && h != "0.0.0.0" && h != "[::]" {
			fail("%s: -addr=%q listens on %s only: the kubelet probes the pod's IP", where, flags["addr"], h)
		}
		for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
			switch {
			case p == nil:
				fail("%s: no %s", where, name)
			case p.HTTPGet == nil:
				fail("%s: %s is not an httpGet", where, name)
			default:
				if !s.serves(p.HTTPGet.Path) {
					fail("%s: %s path %q is not served by the example (its routes: %v)", where, name, p.HTTPGet.Path, s.routes)
				}
				if n, ok := containerPort(c, p.HTTPGet.Port); !ok || int(n) != port {
					fail("%s: %s port %s is not the container port the server listens on (%d)", where, name, p.HTTPGet.Port.String(), port)
				}
			}
		}

		// Resources: requests and limits of both.
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				fail("%s: no %s request", where, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				fail("%s: no %s limit", where, r)
			}
		}

		// Services reach these pods on a port of this container.
		for _, svc := range m.services {
			for k, v := range svc.Spec.Selector {
				if d.Spec.Template.Labels[k] != v {
					fail("Service %s: selector %s=%s does not select the pods of %s", svc.Name, k, v, d.Name)
				}
			}
			for _, sp := range svc.Spec.Ports {
				if _, ok := containerPort(c, sp.TargetPort); !ok {
					fail("Service %s: targetPort %s is no port of %s", svc.Name, sp.TargetPort.String(), where)
				}
			}
		}
	}

	// The patches a ConfigMap carries are the samples, which go vet
	// type-checks against the shop package.
	for _, cm := range m.configMaps {
		for key, content := range cm.Data {
			sample, ok := s.samples[key]
			switch {
			case !strings.HasSuffix(key, ".go"):
				fail("ConfigMap %s: key %q is not a script patch (*.go)", cm.Name, key)
			case !ok:
				fail("ConfigMap %s: key %q is not a file of examples/httpserver/patches.sample", cm.Name, key)
			case !bytes.Equal([]byte(content), sample):
				fail("ConfigMap %s: %s differs from examples/httpserver/patches.sample/%s: copy it again", cm.Name, key, key)
			}
		}
		if len(cm.BinaryData) > 0 {
			fail("ConfigMap %s: binaryData: the example takes no bundles, and a native patch rarely fits in 1 MiB", cm.Name)
		}
	}
	return errs
}

// imagePinned reports whether image names a digest or a tag other than
// latest.
func imagePinned(image string) bool {
	if _, digest, ok := strings.Cut(image, "@"); ok {
		return strings.HasPrefix(digest, "sha256:")
	}
	last := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	return ok && tag != "" && tag != "latest"
}

// containerPort resolves a port by number or name among c's ports.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func TestManifests(t *testing.T) {
	m, s := loadManifests(t), loadServer(t)
	if len(m.configMaps) == 0 || len(m.services) == 0 {
		t.Fatalf("%d ConfigMaps, %d Services: want both", len(m.configMaps), len(m.services))
	}
	for _, err := range check(m, s) {
		t.Error(err)
	}
}

// TestStrictDecoding shows that a misspelt or misplaced field, a
// duplicated one, and a kind these manifests do not use are refused.
func TestStrictDecoding(t *testing.T) {
	base, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"misspelt field", "  replicas: 3", "  replica: 3", `unknown field "replica"`},
		{"misplaced field", "          imagePullPolicy: IfNotPresent", "          imagePullPolicy: IfNotPresent\n          readOnly: true", `unknown field "readOnly"`},
		{"duplicated field", "  replicas: 3", "  replicas: 3\n  replicas: 4", `"replicas" already set`},
		{"wrong type", "  replicas: 3", "  replicas: three", "cannot unmarshal"},
		{"RBAC", "kind: Deployment", "kind: ClusterRole", `kind "ClusterRole" is not one`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(string(base), tc.old, tc.new, 1)
			if data == string(base) {
				t.Fatalf("%q is not in deployment.yaml", tc.old)
			}
			err := (&manifests{}).decode("deployment.yaml", []byte(data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decode: %v; want an error with %q", err, tc.want)
			}
		})
	}
}

// TestChecksFail breaks each invariant in turn and expects check to say so.
func TestChecksFail(t *testing.T) {
	s := loadServer(t)
	ctr := func(m *manifests) *corev1.Container { return &m.deployments[0].Spec.Template.Spec.Containers[0] }
	setArg := func(c *corev1.Container, name, value string) {
		for i, a := range c.Args {
			if strings.HasPrefix(a, "-"+name+"=") {
				c.Args[i] = "-" + name + "=" + value
				return
			}
		}
		c.Args = append(c.Args, "-"+name+"="+value)
	}
	dropArg := func(c *corev1.Container, name string) {
		c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "-"+name+"=") })
	}
	for _, tc := range []struct {
		name   string
		mutate func(m *manifests)
		want   string
	}{
		{"ConfigMap renamed", func(m *manifests) { m.configMaps[0].Name = "other" }, `refers to ConfigMap "shop-patches", which these manifests do not define`},
		{"patch dir elsewhere", func(m *manifests) { setArg(ctr(m), "patches", "/srv/patches") }, `-patches="/srv/patches" is not the mount path`},
		{"patch dir on the emptyDir", func(m *manifests) { setArg(ctr(m), "patches", "/var/lib/shop") }, "is volume \"state\", not a ConfigMap"},
		{"ConfigMap by subPath", func(m *manifests) {
			c := ctr(m)
			for i := range c.VolumeMounts {
				if c.VolumeMounts[i].Name == "patches" {
					c.VolumeMounts[i].SubPath = "greet.go"
				}
			}
		}, "must be mounted whole"},
		{"unknown flag", func(m *manifests) { setArg(ctr(m), "patch-dir", "/x") }, "flag -patch-dir is not one the example defines"},
		{"space-separated flag", func(m *manifests) { ctr(m).Args = append(ctr(m).Args, "-debounce", "1s") }, `write flags as -name=value`},
		{"no admin socket", func(m *manifests) { dropArg(ctr(m), "admin-socket") }, "no -admin-socket"},
		{"admin socket on the root", func(m *manifests) { setArg(ctr(m), "admin-socket", "/admin.sock") }, "the admin socket /admin.sock is on no mounted volume"},
		{"admin socket on the ConfigMap", func(m *manifests) { setArg(ctr(m), "admin-socket", "/var/lib/shop/patches/a.sock") }, "not a writable emptyDir"},
		{"HOTPATCH_ADDR stale", func(m *manifests) { setArg(ctr(m), "admin-socket", "/run/shop/other.sock") }, "HOTPATCH_ADDR is"},
		{"loopback address", func(m *manifests) { setArg(ctr(m), "addr", "127.0.0.1:8080") }, "listens on 127.0.0.1 only"},
		{"probe path not served", func(m *manifests) { ctr(m).ReadinessProbe.HTTPGet.Path = "/healthz" }, `readinessProbe path "/healthz" is not served`},
		{"probe port wrong", func(m *manifests) { ctr(m).LivenessProbe.HTTPGet.Port = intstr.FromInt32(9090) }, "livenessProbe port 9090 is not the container port"},
		{"no liveness", func(m *manifests) { ctr(m).LivenessProbe = nil }, "no livenessProbe"},
		{"no memory limit", func(m *manifests) { delete(ctr(m).Resources.Limits, corev1.ResourceMemory) }, "no memory limit"},
		{"latest image", func(m *manifests) { ctr(m).Image = "registry.example.com/hotpatch/shop:latest" }, "must name a version"},
		{"untagged image", func(m *manifests) { ctr(m).Image = "registry.example.com:5000/shop" }, "must name a version"},
		{"no /tmp", func(m *manifests) {
			c := ctr(m)
			c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == "tmp" })
		}, "the temporary directory /tmp is on no mounted volume"},
		{"token mounted", func(m *manifests) { m.deployments[0].Spec.Template.Spec.AutomountServiceAccountToken = nil }, "automountServiceAccountToken"},
		{"Service misses", func(m *manifests) { m.services[0].Spec.Ports[0].TargetPort = intstr.FromString("web") }, "targetPort web is no port"},
		{"sample drifted", func(m *manifests) { m.configMaps[0].Data["greet.go"] += "// edited\n" }, "differs from examples/httpserver/patches.sample/greet.go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadManifests(t)
			tc.mutate(m)
			errs := check(m, s)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tc.want) }) {
				t.Fatalf("check: %v; want an error with %q", errors.Join(errs...), tc.want)
			}
		})
	}
}

// TestDockerfile checks what the image must be for native patches: a
// multi-stage build whose baseline comes from hotpatch build, with pinned
// base images of one Debian release (the runtime's glibc is the build's).
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var from []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			from = append(from, f[1])
		}
	}
	if len(from) < 2 {
		t.Fatalf("FROM %v: want a build stage and a runtime stage", from)
	}
	for _, img := range from {
		if !imagePinned(img) {
			t.Errorf("FROM %s: pin a version", img)
		}
	}
	release := func(img string) string { return img[strings.LastIndex(img, "-")+1:] }
	if b, r := from[0], from[len(from)-1]; !strings.HasSuffix(r, ":"+release(b)+"-slim") && !strings.HasSuffix(r, ":"+release(b)) {
		t.Errorf("build stage %s and runtime %s: use one Debian release, so the runtime's glibc is the one the baseline was linked against", b, r)
	}
	for _, want := range []string{"hotpatch build -o /build/httpserver", "./cmd/hotpatch", "COPY --from=build /build/httpserver /build/hotpatch", "USER 65532"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	m := loadManifests(t)
	if sc := m.deployments[0].Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Error("the Deployment's runAsUser is not the image's USER 65532")
	}
}
