// Package migrations embeds rapport's SQL migrations (goose format: each file
// has an Up and a Down section) so the binary migrates itself.
package migrations

import "embed"

// FS holds the *.sql migrations in version order.
//
//go:embed *.sql
var FS embed.FS
