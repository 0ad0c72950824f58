package warrengo

// Issue 11 item 2: a plain conn.Close() is a clean shutdown. The client sends
// connection.close, reads close-ok, then closes its socket; NotifyClose must be
// closed without an error. A broker that closes the socket right after close-ok
// races the client's reader into EOF, which the client then reports to
// NotifyClose as `Exception (501) Reason: "EOF"` (RabbitMQ keeps reading until
// the client has closed its side).

import "testing"

func TestCloseNotifiesNoError(t *testing.T) {
	const rounds = 30
	for i := 0; i < rounds; i++ {
		conn, err := Dial(brokerURL())
		must(t, err, "dial")
		closed := conn.NotifyClose(make(chan *Error, 1))
		ch := openChannel(t, conn)
		_, err = ch.QueueDeclare("", false, true, true, false, nil)
		must(t, err, "queue.declare")
		if err := conn.Close(); err != nil {
			t.Fatalf("round %d: conn.Close() = %v", i, err)
		}
		select {
		case reason, open := <-closed:
			if open {
				t.Fatalf("round %d of %d: NotifyClose got %v after a plain conn.Close()", i+1, rounds, reason)
			}
		case <-timeoutAfterWait():
			t.Fatalf("round %d: NotifyClose was neither closed nor notified", i+1)
		}
	}
}
