// Package templates embeds rapport's email layouts and customer-facing page
// templates, so the binary carries everything it renders.
package templates

import "embed"

// FS holds email/*.tmpl (message layouts) and pages/*.tmpl (the preference
// center).
//
//go:embed email pages
var FS embed.FS
