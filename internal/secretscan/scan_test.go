package secretscan

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// corpusCases reads the corpus files under dir. A file named
// DETECTOR.lines holds one case per non-comment line; any other file
// (DETECTOR.something.ext) is one case as a whole. For the allowed corpus the
// detector part is ignored.
func corpusCases(t *testing.T, dir string) (cases []corpusCase) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", dir, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		det := strings.SplitN(base, ".", 2)[0]
		if strings.HasSuffix(base, ".lines") {
			for i, l := range strings.Split(string(data), "\n") {
				if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
					continue
				}
				cases = append(cases, corpusCase{name: base + ":" + itoa(i+1), detector: det, text: l})
			}
			continue
		}
		cases = append(cases, corpusCase{name: base, detector: det, text: string(data)})
	}
	return cases
}

type corpusCase struct {
	name, detector, text string
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)))
}

// secretWordRE picks the words of a case that could be (part of) a secret:
// long runs that are not plain lower-case identifiers.
var secretWordRE = regexp.MustCompile(`[A-Za-z0-9+/=_.~-]{8,}`)
var identRE = regexp.MustCompile(`^[a-z_.-]+$`)

func TestSecretCorpusIsFlagged(t *testing.T) {
	s := New()
	known := map[string]bool{}
	for _, d := range Detectors() {
		known[d] = true
	}
	covered := map[string]bool{}
	for _, c := range corpusCases(t, "testdata/secrets") {
		if !known[c.detector] {
			t.Errorf("%s: corpus file names unknown detector %q", c.name, c.detector)
			continue
		}
		findings := s.Scan([]byte(c.text))
		var got []string
		for _, f := range findings {
			got = append(got, f.Detector)
			if f.Detector == c.detector {
				covered[c.detector] = true
			}
		}
		if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+c.detector+" ") {
			t.Errorf("%s: want detector %s, got %v", c.name, c.detector, got)
		}
		// Nothing that could be part of the secret may appear in what a
		// finding prints.
		var report strings.Builder
		for _, f := range findings {
			report.WriteString(f.String() + "\n")
		}
		for _, w := range secretWordRE.FindAllString(c.text, -1) {
			if identRE.MatchString(w) || SafeKey(w) == w {
				continue
			}
			if strings.Contains(report.String(), w) {
				t.Errorf("%s: report echoes %q from the input:\n%s", c.name, w, report.String())
			}
		}
	}
	for _, d := range Detectors() {
		if !covered[d] {
			t.Errorf("detector %s has no case in testdata/secrets", d)
		}
	}
}

func TestAllowedReferencesAreNotFlagged(t *testing.T) {
	s := New()
	for _, c := range corpusCases(t, "testdata/allowed") {
		if f := s.Scan([]byte(c.text)); len(f) > 0 {
			t.Errorf("%s: allowed reference flagged: %v\n  %s", c.name, f, c.text)
		}
	}
}

// TestAllowedReferencesEmbedded: the allowed references stay unflagged
// when they sit together in a multi-line value of a record, where the
// scanner also parses the value as a document of its own.
func TestAllowedReferencesEmbedded(t *testing.T) {
	var lines []string
	for _, c := range corpusCases(t, "testdata/allowed") {
		lines = append(lines, strings.Split(c.text, "\n")...)
	}
	doc := "schema_version: 1\nrollback_note: |\n  " + strings.Join(lines, "\n  ") + "\n"
	if f := New().Scan([]byte(doc)); len(f) > 0 {
		t.Errorf("allowed references flagged when embedded: %v", f)
	}
}
