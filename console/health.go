package console

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/foliohealth/folio/queue"
)

// rateCounter counts job events per second over the last minute.
type rateCounter struct {
	mu      sync.Mutex
	now     func() time.Time
	start   time.Time
	secs    [60]int64 // unix second of each slot
	done    [60]int
	failed  [60]int
	totDone int
	totFail int
}

func newRateCounter(now func() time.Time) *rateCounter {
	return &rateCounter{now: now, start: now()}
}

func (c *rateCounter) add(failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.now().Unix()
	i := s % 60
	if c.secs[i] != s {
		c.secs[i], c.done[i], c.failed[i] = s, 0, 0
	}
	if failed {
		c.failed[i]++
		c.totFail++
	} else {
		c.done[i]++
		c.totDone++
	}
}

// lastMinute returns the jobs done and failed in the last 60 seconds and
// how many seconds of it the counter has seen (less than 60 just after
// start).
func (c *rateCounter) lastMinute() (done, failed int, window time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	s := now.Unix()
	for i := range c.secs {
		if c.secs[i] > s-60 && c.secs[i] <= s {
			done += c.done[i]
			failed += c.failed[i]
		}
	}
	window = min(now.Sub(c.start), time.Minute).Truncate(time.Second)
	return done, failed, window
}

// health shows the queue depth, the rate of jobs, the worker slots and the
// NATS connection.
func (c *Console) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	data := struct {
		Workload     queue.Workload
		WorkloadErr  string
		Slots        int
		Done, Failed int
		Window       string
		Since        time.Time
		TotalDone    int
		TotalFailed  int
		NATSStatus   string
		NATSURL      string
		NATSServer   string
		NATSRTT      string
		Reconnects   uint64
		Connected    bool
		LastError    string
	}{}
	wl, err := c.cfg.Queue.Workload(ctx)
	if err != nil {
		data.WorkloadErr = err.Error()
	}
	data.Workload = wl
	data.Slots = wl.InHand + wl.Waiting
	data.Done, data.Failed, _ = c.rate.lastMinute()
	_, _, win := c.rate.lastMinute()
	data.Window = win.String()
	c.rate.mu.Lock()
	data.Since, data.TotalDone, data.TotalFailed = c.rate.start, c.rate.totDone, c.rate.totFail
	c.rate.mu.Unlock()
	nc := c.cfg.Conn
	data.NATSStatus = nc.Status().String()
	data.Connected = nc.IsConnected()
	data.NATSURL = nc.ConnectedUrlRedacted()
	data.NATSServer = nc.ConnectedServerVersion()
	data.Reconnects = nc.Stats().Reconnects
	if rtt, err := nc.RTT(); err == nil {
		data.NATSRTT = rtt.Round(time.Microsecond).String()
	}
	if err := nc.LastError(); err != nil {
		data.LastError = err.Error()
	}
	status := http.StatusOK
	if !data.Connected || data.WorkloadErr != "" {
		status = http.StatusServiceUnavailable
	}
	c.render(w, status, "health", "Health", data)
}
