package dsn_test

import (
	"fmt"
	"os"

	"github.com/rapport-dev/rapport/internal/dsn"
)

func ExampleParse() {
	f, err := os.Open("testdata/postfix_hard_user_unknown.eml")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	rep, err := dsn.Parse(f, "bounces+Hb4kP2-xQ9@bounces.example.com", dsn.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Kind, rep.Recipient, rep.Status, rep.Tag)
	fmt.Println(rep.MessageID)
	// Output:
	// hard_bounce jane.doe@example.org 5.1.1 Hb4kP2-xQ9
	// rapport.1234.56.k3x9@example.com
}

func ExampleVERPTag() {
	fmt.Println(dsn.VERPTag("bounces+Hb4kP2-xQ9@bounces.example.com", "bounces"))
	fmt.Println(dsn.VERPTag("bounces+jane=example.org@bounces.example.com", "bounces"))
	// Output:
	// Hb4kP2-xQ9 true
	//  false
}
