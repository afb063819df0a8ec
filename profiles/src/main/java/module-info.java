/** Run and hardware profiles: what to run and on what, as versioned JSON. */
module dev.fathom.profiles {
    requires com.fasterxml.jackson.databind;
    exports dev.fathom.profiles;
    opens dev.fathom.profiles to com.fasterxml.jackson.databind;
}
