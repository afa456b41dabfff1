// MODEL_REPO on the command line. An empty argument (most often an unset variable, `check "$REPO"`)
// would read the working folder as the repository, while an empty MODELSERVE_MODEL_REPO is unset:
// serve and check refuse it as a usage error rather than guess which was meant.
export const EMPTY_MODEL_REPO = 'MODEL_REPO is an empty argument (an unset variable?): give a folder (. for this one), or leave it out for $MODELSERVE_MODEL_REPO or ./models';
