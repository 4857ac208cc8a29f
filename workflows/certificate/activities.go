package certificate

import "github.com/certflow/certflow/activities"

// a is the typed handle the workflow uses to name activities.
var a *activities.Activities
