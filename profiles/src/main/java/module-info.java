/** Run and hardware profiles: what to run and on what, as versioned JSON; export to DeepSpeed deployments. */
module dev.fathom.profiles {
    requires com.fasterxml.jackson.databind;
    exports dev.fathom.profiles;
    exports dev.fathom.profiles.export;
    opens dev.fathom.profiles to com.fasterxml.jackson.databind;
}
