// Package web serves tsstream's browser pages — the dashboard, the player
// and the cluster view — and the player libraries, all embedded in the
// binary. The pages are static files that read the JSON API; nothing is
// fetched from outside the node.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// static holds the pages (HTML, CSS, JS) and, under vendor/, the player
// libraries that `make assets` copies from web/node_modules.
//
//go:embed static
var static embed.FS

// Pages serves the browser side of the HTTP server.
type Pages struct {
	// ValidName checks a stream name in /play/{stream}; nil accepts any.
	ValidName func(string) error
}

// Handler serves GET / (dashboard), /play/{stream} (player), /cluster
// (cluster view) and /assets/… (scripts, styles, player libraries). Mount
// it on those patterns.
func (p *Pages) Handler() http.Handler {
	root, _ := fs.Sub(static, "static") // the directory is embedded: cannot fail
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", page(root, "dashboard.html"))
	mux.HandleFunc("GET /cluster", page(root, "cluster.html"))
	mux.HandleFunc("GET /play/{stream}", func(w http.ResponseWriter, r *http.Request) {
		if p.ValidName != nil {
			if err := p.ValidName(r.PathValue("stream")); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		page(root, "play.html")(w, r)
	})
	files := http.StripPrefix("/assets/", http.FileServerFS(root))
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, ".html") {
			http.NotFound(w, r) // no directory listings, pages have their own routes
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return mux
}

// page serves one HTML file of root.
func page(root fs.FS, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			http.Error(w, "page "+name+" missing from the build: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		w.Write(b)
	}
}
