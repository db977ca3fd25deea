//go:build unix

package debugpage_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/hotpatch-go/hotpatch/debugpage"
)

// The browser's window, and so the screenshot's size.
const shotWidth, shotHeight = 1280, 900

// The page's flat colours (see template.go): table headers and cells.
var (
	headerColour = color.RGBA{0x1f, 0x3b, 0x73, 0xff}
	cellColour   = color.RGBA{0xf3, 0xf6, 0xfb, 0xff}
)

// chromium returns the path of Chromium, or skips the test when there is
// none and CI is unset; under CI the browser test must run, so a missing
// browser fails it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	// Only a run outside CI may skip: CI unset (or empty). Any CI value,
	// CI=true as CI systems set it, makes a missing browser a failure.
	if ci := os.Getenv("CI"); ci == "" {
		t.Skip("chromium not found in PATH: the browser test of the page needs it (Debian: apt-get install chromium); with CI set this is a failure")
	}
	t.Fatalf("chromium not found in PATH and CI=%q: install it (Debian: apt-get install chromium; .ci/run does)", os.Getenv("CI"))
	return ""
}

// runChromium runs headless Chromium with args and returns its stdout. Its
// whole process group is killed when it returns, so no renderer outlives
// the test.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	// A hang detector only: Chromium takes a few seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--disable-crash-reporter", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestBrowser renders the page with hostile patch IDs, one of them on
// probation and one rolled back, in headless Chromium: the screenshot
// shows the tables, and the DOM the browser built holds the hostile
// strings as text, with no element they smuggled in, and the probation.
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	m := probationManager(t)
	srv := httptest.NewServer(debugpage.Handler(m))
	defer srv.Close()
	url := srv.URL + "/debug/hotpatch/"

	shot := filepath.Join(t.TempDir(), "page.png")
	runChromium(t, bin, "--window-size="+itoa(shotWidth)+","+itoa(shotHeight), "--screenshot="+shot, url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	checkScreenshot(t, img)
	// HOTPATCH_KEEP_SCREENSHOT=dir keeps the screenshot, to look at.
	if dir := os.Getenv("HOTPATCH_KEEP_SCREENSHOT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "debugpage.png"), mustRead(t, shot), 0o644); err != nil {
			t.Error(err)
		}
	}

	dom := runChromium(t, bin, "--dump-dom", url)
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "img") {
			t.Errorf("the rendered DOM has a <%s> element", n.Data)
		}
	}
	slots := rows(t, doc, "slots")
	if len(slots) != 2 || slots[0][2] != hostileIDShown || slots[1][2] != "baseline" {
		t.Errorf("rendered slots table = %q", slots)
	}
	if stack := rows(t, doc, "stack"); len(stack) != 1 || stack[0][3] != hostileSource {
		t.Errorf("rendered stack = %q", stack)
	}
	if ev := eventRow(t, doc, hostileType); ev[7] != "window ended clean" {
		t.Errorf("rendered event of the hostile type = %q", ev)
	}
	if ev := eventRow(t, doc, "warning"); !strings.Contains(ev[7], hostileErr) {
		t.Errorf("rendered warning = %q", ev)
	}
	checkProbationPage(t, doc)
}

// checkScreenshot checks the rendered page: the window's size, not blank,
// and the slots table where it belongs: a header bar across the page near
// the top with filled rows below it.
func checkScreenshot(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != shotWidth || b.Dy() != shotHeight {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), shotWidth, shotHeight)
	}
	var white, header, cell, dark int
	firstHeader := -1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			switch {
			case c == color.RGBA{0xff, 0xff, 0xff, 0xff}:
				white++
			case c == headerColour:
				header++
				if firstHeader < 0 {
					firstHeader = y
				}
			case c == cellColour:
				cell++
			case int(c.R)+int(c.G)+int(c.B) < 3*0x60:
				dark++ // text
			}
		}
	}
	total := b.Dx() * b.Dy()
	t.Logf("screenshot: %d px white, %d header, %d cell, %d dark; first header row at y=%d", white, header, cell, dark, firstHeader)
	if white > total*98/100 {
		t.Errorf("the screenshot is blank: %d of %d pixels white", white, total)
	}
	// Five tables, each with a header bar across the page.
	if header < 5*shotWidth*10 {
		t.Errorf("only %d pixels of table headers; want five header bars", header)
	}
	if firstHeader < 0 || firstHeader > shotHeight/4 {
		t.Fatalf("the slots table's header is not near the top (first header row at y=%d)", firstHeader)
	}
	// The slots table: below its header, filled cells with text in them.
	region := image.Rect(b.Min.X, firstHeader+30, b.Max.X, firstHeader+90)
	var regionCell, regionDark int
	for y := region.Min.Y; y < region.Max.Y; y++ {
		for x := region.Min.X; x < region.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if c == cellColour {
				regionCell++
			} else if int(c.R)+int(c.G)+int(c.B) < 3*0x60 {
				regionDark++
			}
		}
	}
	if regionCell < region.Dx()*region.Dy()/3 || regionDark < 200 {
		t.Errorf("the slots table's rows look empty: %d cell pixels, %d text pixels in %v", regionCell, regionDark, region)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(n int) string { return strconv.Itoa(n) }
