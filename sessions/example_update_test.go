package sessions_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sqlsession/sqlsession/sessions"
)

// Count page views without losing any to concurrent requests: the
// increment is a compare-and-swap in the store, retried if another
// request (Go or Node) changed the value meanwhile.
func ExampleUpdate() {
	m := exampleManager()
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		views, err := sessions.Update(r.Context(), s, "views", func(old int, _ bool) (int, error) {
			return old + 1, nil
		})
		if errors.Is(err, sessions.ErrConflict) {
			http.Error(w, "busy, try again", http.StatusServiceUnavailable)
			return
		} else if err != nil {
			http.Error(w, "session error", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "views: %d", views)
	}))
	cookie, body := request(h, "/", "")
	fmt.Println(body)
	_, body = request(h, "/", cookie)
	fmt.Println(body)
	// Output:
	// views: 1
	// views: 2
}

// Cart is what the typed key of the next example holds.
type Cart struct {
	Items []string `json:"items"`
}

// Typed keys, declared once: handlers name neither the key string nor the
// type again, like scs's GetString or GetInt but for any type.
var (
	UserName = sessions.NewKey[string]("user")
	Visits   = sessions.NewKey[int]("visits")
	CartKey  = sessions.NewKey[Cart]("cart")
	Notice   = sessions.NewKey[string]("notice")
)

func ExampleKey() {
	m := exampleManager()
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromContext(r.Context())
		switch r.URL.Path {
		case "/login":
			_ = UserName.Set(s, "alice")
			_ = Notice.Set(s, "welcome back")
		case "/add":
			// Atomic: two tabs adding at once both land.
			_, _ = CartKey.Update(r.Context(), s, func(c Cart, _ bool) (Cart, error) {
				c.Items = append(c.Items, r.URL.Query().Get("item"))
				return c, nil
			})
		default:
			name, _, _ := UserName.Get(s)
			cart, _, _ := CartKey.Get(s)
			visits, _ := Visits.Update(r.Context(), s, func(n int, _ bool) (int, error) { return n + 1, nil })
			notice, shown, _ := Notice.Pop(s) // read once
			fmt.Fprintf(w, "%s: %d items, visit %d", name, len(cart.Items), visits)
			if shown {
				fmt.Fprintf(w, " (%s)", notice)
			}
		}
	}))
	cookie, _ := request(h, "/login", "")
	request(h, "/add?item=tea", cookie)
	request(h, "/add?item=cake", cookie)
	_, page := request(h, "/", cookie)
	fmt.Println(page)
	_, page = request(h, "/", cookie)
	fmt.Println(page)
	// Output:
	// alice: 2 items, visit 1 (welcome back)
	// alice: 2 items, visit 2
}
