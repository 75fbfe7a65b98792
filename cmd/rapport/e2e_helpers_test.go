package main

import (
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strconv"
)

func qpReader(r io.Reader) io.Reader  { return quotedprintable.NewReader(r) }
func b64Reader(r io.Reader) io.Reader { return base64.NewDecoder(base64.StdEncoding, r) }
func formatInt(n int64) string        { return strconv.FormatInt(n, 10) }
