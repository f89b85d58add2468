package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// npmDir is the folder with package.json, the lock file and node_modules.
const npmDir = "../../web"

// assetSpec is web/assets.json: what `make assets` copies.
type assetSpec struct {
	Packages map[string]struct {
		Dir   string   `json:"dir"`
		Files []string `json:"files"`
	} `json:"packages"`
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// vendorVersions reads static/vendor/VERSIONS: "package version dir" lines.
func vendorVersions(t *testing.T) map[string][2]string {
	t.Helper()
	b, err := fs.ReadFile(static, "static/vendor/VERSIONS")
	if err != nil {
		t.Fatalf("embedded vendor/VERSIONS: %v (run make assets)", err)
	}
	out := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("vendor/VERSIONS line %q: want \"package version dir\"", line)
		}
		out[f[0]] = [2]string{f[1], f[2]}
	}
	return out
}

// TestVendorMatchesLock checks that every embedded library is the version
// that package.json pins and package-lock.json locks, with its licence.
func TestVendorMatchesLock(t *testing.T) {
	var spec assetSpec
	readJSON(t, filepath.Join(npmDir, "assets.json"), &spec)
	var pkg struct{ Dependencies map[string]string }
	readJSON(t, filepath.Join(npmDir, "package.json"), &pkg)
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	readJSON(t, filepath.Join(npmDir, "package-lock.json"), &lock)
	embedded := vendorVersions(t)
	if len(embedded) != len(spec.Packages) {
		t.Errorf("vendor/VERSIONS lists %d packages, assets.json %d: run make assets", len(embedded), len(spec.Packages))
	}
	for name, s := range spec.Packages {
		locked := lock.Packages["node_modules/"+name].Version
		if pinned := pkg.Dependencies[name]; pinned != locked || locked == "" {
			t.Errorf("%s: package.json pins %q, package-lock.json has %q: pin exact versions and run npm install in web/", name, pinned, locked)
		}
		if got := embedded[name]; got != [2]string{locked, s.Dir} {
			t.Errorf("%s: embedded %v, want version %s in vendor/%s: run make assets", name, got, locked, s.Dir)
		}
		licence := false
		for _, f := range s.Files {
			base := path.Base(f)
			if _, err := fs.Stat(static, path.Join("static/vendor", s.Dir, base)); err != nil {
				t.Errorf("%s: %s not embedded: %v (run make assets)", name, base, err)
			}
			licence = licence || strings.HasPrefix(base, "LICENSE")
		}
		if !licence {
			t.Errorf("%s: assets.json copies no LICENSE file", name)
		}
	}
}

// TestVendorMatchesNodeModules checks the embedded bytes against the
// packages npm ci installed. CI installs them (scripts/deps.sh); elsewhere
// the test skips without them.
func TestVendorMatchesNodeModules(t *testing.T) {
	var spec assetSpec
	readJSON(t, filepath.Join(npmDir, "assets.json"), &spec)
	if _, err := os.Stat(filepath.Join(npmDir, "node_modules")); errors.Is(err, fs.ErrNotExist) {
		msg := "web/node_modules missing: run scripts/deps.sh (npm ci in web/) to compare the embedded libraries"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; CI is set, so this check must not be skipped")
		}
		t.Skip(msg)
	}
	embedded := vendorVersions(t)
	for name, s := range spec.Packages {
		var installed struct{ Version string }
		readJSON(t, filepath.Join(npmDir, "node_modules", name, "package.json"), &installed)
		if installed.Version != embedded[name][0] {
			t.Errorf("%s: node_modules has %s, the binary embeds %s: run make assets", name, installed.Version, embedded[name][0])
			continue
		}
		for _, f := range s.Files {
			want, err := os.ReadFile(filepath.Join(npmDir, "node_modules", name, f))
			if err != nil {
				t.Fatal(err)
			}
			got, err := fs.ReadFile(static, path.Join("static/vendor", s.Dir, path.Base(f)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: embedded %s differs from node_modules/%s/%s: run make assets", name, path.Base(f), name, f)
			}
		}
	}
}

func get(t *testing.T, h http.Handler, target string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func TestRoutes(t *testing.T) {
	h := (&Pages{ValidName: func(s string) error {
		if strings.Contains(s, " ") {
			return errors.New("bad name")
		}
		return nil
	}}).Handler()
	cases := []struct {
		target string
		code   int
		body   string // a part of the body
		ctype  string
	}{
		{"/", 200, `id="stream-list"`, "text/html; charset=utf-8"},
		{"/play/live", 200, "/assets/play.js", "text/html; charset=utf-8"},
		{"/play/a%20b", 400, "bad name", ""},
		{"/cluster", 200, "/assets/cluster.js", "text/html; charset=utf-8"},
		{"/assets/play.js", 200, "tsplayer", "text/javascript; charset=utf-8"},
		{"/assets/style.css", 200, "--accent", "text/css; charset=utf-8"},
		{"/assets/vendor/jsmpeg/LICENSE", 200, "MIT", ""},
		{"/assets/vendor/mpegts/LICENSE", 200, "Apache License", ""},
		{"/assets/", 404, "", ""},
		{"/assets/vendor/", 404, "", ""},
		{"/assets/play.html", 404, "", ""},
		{"/assets/nope.js", 404, "", ""},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			code, body, hdr := get(t, h, c.target)
			if code != c.code || !strings.Contains(body, c.body) {
				t.Fatalf("GET %s: %d, body %.200q; want %d with %q", c.target, code, body, c.code, c.body)
			}
			if c.ctype != "" && hdr.Get("Content-Type") != c.ctype {
				t.Errorf("Content-Type %q, want %q", hdr.Get("Content-Type"), c.ctype)
			}
		})
	}
}

var refRE = regexp.MustCompile(`(?:src|href)="([^"]+)"|'(/assets/[^']+)'|load\('([^']+)'\)`)

// TestPagesNeedNoNetwork checks that every page and script refers only to
// files the binary embeds: no external hosts, no missing asset.
func TestPagesNeedNoNetwork(t *testing.T) {
	root, _ := fs.Sub(static, "static")
	files, _ := fs.Glob(root, "*.*")
	if len(files) < 6 {
		t.Fatalf("only %d pages and scripts embedded: %v", len(files), files)
	}
	for _, f := range files {
		b, _ := fs.ReadFile(root, f)
		for _, m := range refRE.FindAllStringSubmatch(string(b), -1) {
			ref := m[1] + m[2]
			if m[3] != "" {
				ref = "/assets/vendor/" + m[3] // play.js loads libraries by vendor path
			}
			switch {
			case strings.HasPrefix(ref, "data:"), strings.HasPrefix(ref, "#"), strings.HasPrefix(ref, "/api/"),
				ref == "/", ref == "/cluster", ref == "/metrics",
				strings.Contains(ref, "' + "), strings.HasSuffix(ref, "/"): // built in the script
			case strings.HasPrefix(ref, "/assets/"):
				if _, err := fs.Stat(root, strings.TrimPrefix(ref, "/assets/")); err != nil {
					t.Errorf("%s refers to %s, which is not embedded", f, ref)
				}
			default:
				t.Errorf("%s refers to %s: pages may only use embedded files", f, ref)
			}
		}
	}
}
