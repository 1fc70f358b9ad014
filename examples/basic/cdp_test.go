package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// chrome drives a headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands on fd 3, replies on fd 4, each a JSON
// message ended by a NUL byte). It has one page, attached in flat mode.
type chrome struct {
	cmd     *exec.Cmd
	w       io.WriteCloser
	session string

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpMessage
	events  chan cdpMessage
	dead    chan struct{}
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChrome starts bin headless with a fresh profile in dir and opens a
// blank page.
func startChrome(bin, dir string) (*chrome, error) {
	toChrome, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	r, fromChrome, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--remote-debugging-pipe", "--user-data-dir="+dir, "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fd 3, fd 4
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	_ = toChrome.Close()
	_ = fromChrome.Close()
	c := &chrome{cmd: cmd, w: w, waiting: map[int]chan cdpMessage{}, events: make(chan cdpMessage, 256), dead: make(chan struct{})}
	go c.read(r)

	var target struct{ TargetID string }
	if err := c.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		c.close()
		return nil, err
	}
	var attached struct{ SessionID string }
	if err := c.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		c.close()
		return nil, err
	}
	c.session = attached.SessionID
	if err := c.call(c.session, "Page.enable", nil, nil); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *chrome) read(r io.Reader) {
	defer close(c.dead)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		if m.ID == 0 {
			select {
			case c.events <- m:
			default: // nobody is waiting for old events
			}
			continue
		}
		c.mu.Lock()
		ch := c.waiting[m.ID]
		delete(c.waiting, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// call sends one command and decodes its result into out (when not nil).
func (c *chrome) call(session, method string, params, out any) error {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	msg, err := json.Marshal(cdpMessage{ID: id, Method: method, Params: params, SessionID: session})
	if err != nil {
		return err
	}
	if _, err := c.w.Write(append(msg, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-c.dead:
		return fmt.Errorf("%s: chromium exited", method)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s: no answer from chromium", method)
	}
}

// loads runs action and waits for the page's next load event (a click
// that submits a form, a navigation).
func (c *chrome) loads(action func() error) error {
	for len(c.events) > 0 {
		<-c.events
	}
	if err := action(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		select {
		case m := <-c.events:
			if m.Method == "Page.loadEventFired" && m.SessionID == c.session {
				return nil
			}
		case <-ctx.Done():
			return errors.New("the page did not load")
		}
	}
}

func (c *chrome) navigate(url string) error {
	return c.loads(func() error {
		return c.call(c.session, "Page.navigate", map[string]any{"url": url}, nil)
	})
}

// click clicks the element selector names and waits for the next page.
func (c *chrome) click(selector string) error {
	return c.loads(func() error {
		_, err := c.eval(fmt.Sprintf("document.querySelector(%q).click()", selector))
		return err
	})
}

// eval evaluates a JavaScript expression in the page and returns its value.
func (c *chrome) eval(expr string) (any, error) {
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := c.call(c.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if err == nil && res.ExceptionDetails != nil {
		err = fmt.Errorf("%s: %s", expr, res.ExceptionDetails.Text)
	}
	return res.Result.Value, err
}

// viewport emulates a window width x height CSS pixels; mobile also
// honours the page's viewport meta tag, as a phone does.
func (c *chrome) viewport(width, height int, mobile bool) error {
	return c.call(c.session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
	}, nil)
}

// timezone makes the page's clock run in the IANA zone id.
func (c *chrome) timezone(id string) error {
	return c.call(c.session, "Emulation.setTimezoneOverride", map[string]any{"timezoneId": id}, nil)
}

func (c *chrome) screenshot() ([]byte, error) {
	var res struct{ Data string }
	if err := c.call(c.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(res.Data)
}

func (c *chrome) close() {
	_ = c.call("", "Browser.close", nil, nil)
	_ = c.w.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}
