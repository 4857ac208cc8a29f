package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runsAsPrinted marks, on the line before its opening fence, a shell block
// of the documentation that TestWalkthroughsRunAsPrinted runs.
const runsAsPrinted = "<!-- runs-as-printed -->"

// walkthroughDocs are the documents whose marked blocks the test runs, in
// order, against one `make run` stack (relative to the module root). The
// blocks of one document run in one shell, one after the other, as a
// reader would paste them: a block may use what an earlier one set.
var walkthroughDocs = []string{"README.md", "docs/console-api.md"}

// TestWalkthroughsRunAsPrinted starts the dev runner (what `make run`
// starts: dev server, worker, gateway, CA and payment simulators, the event
// receiver and the demo) and runs every block of the documentation marked
// runs-as-printed with bash, in a folder whose .run/ is the runner's and
// whose bin/temporal is the CLI, as a reader at the module root would. Each
// "# → …" line is what the command before it must print last: JSON is
// compared as JSON, with times, payment IDs and event IDs taken as equal
// when they have the same form.
func TestWalkthroughsRunAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatalf("the walk-throughs use jq: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string][]docBlock{}
	for _, doc := range walkthroughDocs {
		bs, err := markedBlocks(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			t.Fatalf("%s has no block marked %q; the walk-through lost its mark", doc, runsAsPrinted)
		}
		docs[doc] = bs
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := startDevRunner(t, ctx)
	// The blocks run in the runner's folder, as a reader at the module
	// root would: .run/ is the runner's, bin/temporal the CLI.
	for _, doc := range walkthroughDocs {
		runDoc(t, ctx, r.Dir, docs[doc])
	}
}

// docBlock is a marked shell block: its commands, each with what it must
// print last (want empty: anything).
type docBlock struct {
	where string
	steps []docStep
}

type docStep struct {
	line int
	code string
	want string
}

// markedBlocks reads the shell blocks of path marked runs-as-printed.
func markedBlocks(path string) ([]docBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks          []docBlock
		cur             *docBlock
		code            strings.Builder
		start           int
		marked, inBlock bool
	)
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case !inBlock && strings.TrimSpace(line) == runsAsPrinted:
			marked = true
		case !inBlock && marked && strings.HasPrefix(line, "```"):
			if lang := strings.TrimPrefix(line, "```"); lang != "sh" && lang != "bash" {
				return nil, fmt.Errorf("%s:%d: a block marked %s must be sh or bash, not %q", path, n, runsAsPrinted, lang)
			}
			inBlock, marked = true, false
			cur = &docBlock{where: fmt.Sprintf("%s:%d", filepath.Base(path), n)}
			code.Reset()
			start = n + 1
		case !inBlock && strings.TrimSpace(line) != "":
			marked = false
		case inBlock && strings.HasPrefix(line, "```"):
			if strings.TrimSpace(code.String()) != "" {
				cur.steps = append(cur.steps, docStep{line: start, code: code.String()})
			}
			blocks = append(blocks, *cur)
			inBlock = false
		case inBlock && strings.HasPrefix(line, "# → "):
			cur.steps = append(cur.steps, docStep{line: start, code: code.String(), want: strings.TrimPrefix(line, "# → ")})
			code.Reset()
			start = n + 1
		case inBlock:
			code.WriteString(line + "\n")
		}
	}
	if inBlock {
		return nil, fmt.Errorf("%s: block at %s is not closed", path, cur.where)
	}
	return blocks, sc.Err()
}

// runDoc runs a document's blocks in one bash, in dir, and checks each
// step's last line of output against its "# →" line.
func runDoc(t *testing.T, ctx context.Context, dir string, blocks []docBlock) {
	t.Helper()
	var (
		script strings.Builder
		steps  []docStep
		where  []string
	)
	script.WriteString("set -uo pipefail\n")
	for _, b := range blocks {
		for _, s := range b.steps {
			script.WriteString(s.code)
			fmt.Fprintf(&script, "\nprintf '\\n@@step %d rc=%%d@@\\n' $?\n", len(steps))
			steps = append(steps, s)
			where = append(where, b.where)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(sctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: the blocks failed: %v\n%s", blocks[0].where, err, out)
	}
	outputs := splitSteps(string(out))
	for i, s := range steps {
		got, ok := outputs[i]
		if !ok {
			t.Fatalf("%s (line %d): the step did not finish; output:\n%s", where[i], s.line, out)
		}
		if got.rc != 0 {
			t.Errorf("%s (line %d): exit status %d\n%s\noutput:\n%s", where[i], s.line, got.rc, s.code, got.text)
			continue
		}
		if s.want == "" {
			continue
		}
		last := lastLine(got.text)
		if !sameOutput(s.want, last) {
			t.Errorf("%s (line %d):\n%s\nprinted: %s\nthe doc says: %s", where[i], s.line, strings.TrimSpace(s.code), last, s.want)
		}
	}
}

type stepOutput struct {
	text string
	rc   int
}

var stepMark = regexp.MustCompile(`(?m)^@@step (\d+) rc=(\d+)@@$`)

func splitSteps(out string) map[int]stepOutput {
	res := map[int]stepOutput{}
	prev := 0
	for _, m := range stepMark.FindAllStringSubmatchIndex(out, -1) {
		i, _ := strconv.Atoi(out[m[2]:m[3]])
		rc, _ := strconv.Atoi(out[m[4]:m[5]])
		res[i] = stepOutput{text: out[prev:m[0]], rc: rc}
		prev = m[1]
	}
	return res
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// volatile are the parts of an output that differ per run: times, payment,
// event and run IDs, cursors. Both sides are normalised before comparing.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`), "<time>"},
	{regexp.MustCompile(`\b(pay|evt|re)_[0-9a-f]{6,}\b`), "${1}_<id>"},
	{regexp.MustCompile(`"(cursor|next|run_id)":"[^"]*"`), `"${1}":"<cursor>"`},
}

func normalise(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// sameOutput compares what a step printed with what the doc says: as JSON
// when both are, else as text, after normalising the volatile parts.
func sameOutput(want, got string) bool {
	want, got = normalise(want), normalise(got)
	var w, g any
	if json.Unmarshal([]byte(want), &w) == nil && json.Unmarshal([]byte(got), &g) == nil {
		return reflect.DeepEqual(w, g)
	}
	return want == got
}
