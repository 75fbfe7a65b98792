package render

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"text/template/parse"
	"time"
)

// Templates are written by marketers and run for every recipient, so every
// render is bounded: each part's output by a size (a template that writes a
// byte more stops at once, instead of growing a 20 MB message), and the
// whole message by a deadline (the caller's context too: a preview whose
// client has gone stops). text/template and html/template cannot be
// cancelled; they stop at the first write that fails, so the bounds live in
// the writer they execute into. A loop that writes nothing would never meet
// it: Compile makes every range iteration write (nothing), and caps ranges
// over integers, such as {{range 10000000}}.

// Default bounds (TEMPLATE_MAX_BYTES, TEMPLATE_TIMEOUT).
const (
	DefaultMaxBytes = 512 << 10
	DefaultTimeout  = 2 * time.Second
)

// MaxRangeInt is the most iterations {{range N}} over an integer may have.
const MaxRangeInt = 10000

// layoutSlack is what the shared layout adds around a part at most: the
// footer, the links and the markup, well under this.
const layoutSlack = 64 << 10

// Limits bound one render.
type Limits struct {
	// MaxBytes bounds each part (subject, text, HTML) as its template
	// writes it; zero means DefaultMaxBytes.
	MaxBytes int
	// Timeout bounds the rendering of a whole message; zero means
	// DefaultTimeout.
	Timeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}

// LimitError is a render stopped by its bounds.
type LimitError struct {
	Part    string        // subject, text or html
	Size    int           // the size bound that was reached; 0 for a timeout
	Timeout time.Duration // the deadline that passed; 0 for a size
}

func (e *LimitError) Error() string {
	if e.Size > 0 {
		return fmt.Sprintf("the %s part is larger than %s (TEMPLATE_MAX_BYTES)", e.Part, FormatSize(e.Size))
	}
	return fmt.Sprintf("the %s part took longer than %v to render (TEMPLATE_TIMEOUT)", e.Part, e.Timeout)
}

// FormatSize writes a byte count as people read it: 512 KiB, 2 MiB.
func FormatSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// boundedWriter is what a template executes into: it refuses the first
// write past its size, after its deadline or once its context is done, and
// every later one, so Execute stops there.
type boundedWriter struct {
	ctx      context.Context
	buf      *bytes.Buffer
	max      int
	deadline time.Time
	timeout  time.Duration
	part     string
	err      error
	writes   uint
}

// clockEvery is how many writes share one look at the clock and the
// context: a message is some 40 writes, and reading the clock on each was a
// tenth of rendering it. A loop writing nothing still writes an empty text
// per iteration (bound), so it is stopped within clockEvery iterations of
// its deadline.
const clockEvery = 16

func (w *boundedWriter) Write(p []byte) (int, error) {
	check := w.writes%clockEvery == 0
	w.writes++
	switch {
	case w.err != nil:
	case check && w.ctx.Err() != nil:
		w.err = w.ctx.Err()
	case check && time.Now().After(w.deadline):
		w.err = &LimitError{Part: w.part, Timeout: w.timeout}
	case w.buf.Len()+len(p) > w.max:
		w.err = &LimitError{Part: w.part, Size: w.max}
	default:
		return w.buf.Write(p)
	}
	return 0, w.err
}

// rangeLimitFunc is the template function Compile puts at the end of every
// range's pipeline: it passes the value through, and refuses integers over
// MaxRangeInt.
const rangeLimitFunc = "rangeLimit"

func rangeLimit(x any) (any, error) {
	v := reflect.ValueOf(x)
	n := int64(0)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n = v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if v.Uint() > MaxRangeInt {
			n = MaxRangeInt + 1
		}
	}
	if n > MaxRangeInt {
		return x, fmt.Errorf("range over %v: at most %d iterations", x, MaxRangeInt)
	}
	return x, nil
}

// funcs are the functions every campaign template gets.
var funcs = map[string]any{rangeLimitFunc: rangeLimit}

// bound rewrites a parsed tree so that its loops meet the writer's bounds:
// every range body starts with an empty text node (written, so checked,
// on every iteration) and every range pipeline ends in rangeLimit.
func bound(t *parse.Tree) {
	if t == nil || t.Root == nil {
		return
	}
	boundList(t, t.Root)
}

func boundList(t *parse.Tree, l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.RangeNode:
			boundList(t, n.List)
			boundList(t, n.ElseList)
			if n.List == nil {
				n.List = &parse.ListNode{NodeType: parse.NodeList, Pos: n.Pos}
			}
			n.List.Nodes = append([]parse.Node{&parse.TextNode{NodeType: parse.NodeText, Pos: n.Pos, Text: []byte{}}}, n.List.Nodes...)
			id := parse.NewIdentifier(rangeLimitFunc).SetTree(t).SetPos(n.Pipe.Pos)
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pipe.Pos, Args: []parse.Node{id}})
		case *parse.IfNode:
			boundList(t, n.List)
			boundList(t, n.ElseList)
		case *parse.WithNode:
			boundList(t, n.List)
			boundList(t, n.ElseList)
		case *parse.ListNode:
			boundList(t, n)
		}
	}
}
