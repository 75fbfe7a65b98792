package templates

import "embed"

// Console holds the web console's templates: console/layout.tmpl (the
// frame of every page), console/partials/*.tmpl (form fields, the error
// summary, the pager) and console/pages/*.tmpl (one per page, each
// defining "content").
//
//go:embed console
var Console embed.FS
