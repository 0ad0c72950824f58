package warrengo

// Helpers shared by the tests: the broker's address, unique names, and
// waits that fail the test after a timeout instead of hanging it.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// wait is how long any single wait for the broker may take.
const wait = 10 * time.Second

// brokerURL is the broker under test, from WARREN_AMQP_HOST / WARREN_AMQP_PORT
// (default 127.0.0.1:5672), as guest/guest on the default vhost.
func brokerURL() string {
	host := os.Getenv("WARREN_AMQP_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	port := os.Getenv("WARREN_AMQP_PORT")
	if port == "" {
		port = "5672"
	}
	return fmt.Sprintf("amqp://guest:guest@%s:%s/", host, port)
}

// unique returns prefix plus a random suffix, so that parallel runs never share a name.
func unique(prefix string) string {
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		panic(err)
	}
	return prefix + "." + hex.EncodeToString(suffix)
}

// dial opens a connection that is closed when the test ends.
func dial(t *testing.T) *Connection {
	t.Helper()
	conn, err := Dial(brokerURL())
	if err != nil {
		t.Fatalf("dial %s: %v", brokerURL(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// openChannel opens a channel on conn; it closes with the connection.
func openChannel(t *testing.T, conn *Connection) *Channel {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	return ch
}

// must fails the test when err is not nil.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// declareQueue declares an auto-delete queue (server-named if name is empty)
// and deletes it when the test ends.
func declareQueue(t *testing.T, ch *Channel, name string, exclusive bool) string {
	t.Helper()
	q, err := ch.QueueDeclare(name, false, true, exclusive, false, nil)
	must(t, err, "queue.declare "+name)
	t.Cleanup(func() { deleteQueue(q.Name) })
	return q.Name
}

// deleteQueue deletes a queue on a connection of its own (the test's may be closed).
func deleteQueue(name string) {
	conn, err := Dial(brokerURL())
	if err != nil {
		return
	}
	defer conn.Close()
	if ch, err := conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(name, false, false, false)
	}
}

// consume starts a consumer and fails the test if the broker refuses it.
func consume(t *testing.T, ch *Channel, queue string, autoAck bool) <-chan Delivery {
	t.Helper()
	deliveries, err := ch.Consume(queue, "", autoAck, false, false, false, nil)
	must(t, err, "basic.consume "+queue)
	return deliveries
}

// publish sends a text message and fails the test on error.
func publish(t *testing.T, ch *Channel, exchange, key, body string) {
	t.Helper()
	err := ch.Publish(exchange, key, false, false, Publishing{ContentType: "text/plain", Body: []byte(body)})
	must(t, err, "basic.publish "+key)
}

// receive takes exactly n deliveries, failing the test after the wait.
func receive(t *testing.T, deliveries <-chan Delivery, n int) []Delivery {
	t.Helper()
	got := make([]Delivery, 0, n)
	timeout := time.After(wait)
	for len(got) < n {
		select {
		case d, ok := <-deliveries:
			if !ok {
				t.Fatalf("deliveries closed after %d of %d messages", len(got), n)
			}
			got = append(got, d)
		case <-timeout:
			t.Fatalf("timed out after %d of %d messages", len(got), n)
		}
	}
	return got
}

// bodies returns the deliveries' bodies as strings, in order.
func bodies(deliveries []Delivery) []string {
	out := make([]string, len(deliveries))
	for i, d := range deliveries {
		out[i] = string(d.Body)
	}
	return out
}

// equal reports whether two string slices hold the same elements in the same order.
func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMain(m *testing.M) {
	fmt.Printf("client library: %s, broker: %s\n", Library, brokerURL())
	os.Exit(m.Run())
}

// publishPersistent sends a persistent text message, as the work-queue tutorial does.
func publishPersistent(t *testing.T, ch *Channel, queue, body string) {
	t.Helper()
	err := ch.Publish("", queue, false, false, Publishing{
		DeliveryMode: Persistent, ContentType: "text/plain", Body: []byte(body),
	})
	must(t, err, "basic.publish "+body)
}

// declareExchange declares an auto-delete exchange and deletes it when the test ends.
func declareExchange(t *testing.T, ch *Channel, name, kind string) string {
	t.Helper()
	must(t, ch.ExchangeDeclare(name, kind, false, true, false, false, nil), "exchange.declare "+name)
	t.Cleanup(func() {
		conn, err := Dial(brokerURL())
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_ = ch.ExchangeDelete(name, false, false)
		}
	})
	return name
}

// bindQueue declares an exclusive server-named queue bound to exchange with each
// key and returns its consumer's deliveries (auto-ack).
func bindQueue(t *testing.T, ch *Channel, exchange string, keys ...string) <-chan Delivery {
	t.Helper()
	queue := declareQueue(t, ch, "", true)
	for _, key := range keys {
		must(t, ch.QueueBind(queue, key, exchange, false, nil), "queue.bind "+key)
	}
	return consume(t, ch, queue, true)
}

// expectKeys takes len(keys) deliveries and fails unless their routing keys are keys, in order.
func expectKeys(t *testing.T, deliveries <-chan Delivery, keys ...string) {
	t.Helper()
	got := receive(t, deliveries, len(keys))
	routed := make([]string, len(got))
	for i, d := range got {
		routed[i] = d.RoutingKey
	}
	if !equal(routed, keys) {
		t.Fatalf("got routing keys %v, want %v", routed, keys)
	}
}

// bodiesOf collects n strings from a channel, failing the test after the wait.
func bodiesOf(t *testing.T, from <-chan string, n int) []string {
	t.Helper()
	var got []string
	timeout := timeoutAfterWait()
	for len(got) < n {
		select {
		case s := <-from:
			got = append(got, s)
		case <-timeout:
			t.Fatalf("timed out after %d of %d", len(got), n)
		}
	}
	return got
}

// timeoutAfterWait fires once the wait has passed.
func timeoutAfterWait() <-chan time.Time { return time.After(wait) }

// fib is the tutorial's (slow, recursive) Fibonacci function.
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// serveFibonacci answers each request on deliveries with fib(body) to its reply-to
// queue under its correlation id, acking after the reply, until the channel closes.
func serveFibonacci(ch *Channel, deliveries <-chan Delivery) {
	for d := range deliveries {
		n, _ := strconv.Atoi(string(d.Body))
		reply := Publishing{ContentType: "text/plain", CorrelationId: d.CorrelationId, Body: []byte(strconv.Itoa(fib(n)))}
		if ch.Publish("", d.ReplyTo, false, false, reply) != nil || d.Ack(false) != nil {
			return
		}
	}
}
