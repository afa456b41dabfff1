// The --*-env options (API keys, admin keys, the MQTT password) take the NAME of an environment
// variable holding the secret. A value that is no such name is not echoed in the start-up message:
// it is most often the secret itself, given where its variable's name was meant to go.
export const isEnvName = (value: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(value);

export const NOT_AN_ENV_NAME = 'the value given is not an environment variable name (not shown: it may be the secret itself)';
