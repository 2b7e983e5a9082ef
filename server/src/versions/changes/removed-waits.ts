// The operations and schemas version 2026-12-06 removed, as version 2026-12-05 published them (its bundled
// document, examples inlined): the older versions' documents still describe them.
export const REMOVED = {
  paths: {
    '/api/v1/leases/{leaseId}/wait': {
      parameters: [
        {
          $ref: '#/components/parameters/LeaseId',
        },
      ],
      post: {
        operationId: 'waitRun',
        'x-audit-action': 'lease.wait',
        'x-sdk-method': 'wait',
        tags: ['Runners'],
        summary: 'Wait for a human',
        description:
          "Puts the `running` run of the lease into `waiting` with the `requiredAction` a human must answer (see `resumeRun`). The runner keeps the lease and keeps heartbeating: the heartbeat's run is `running` again once resumed, or `cancelled`. A run that is not `running` is 409 `invalid-transition`; a stale `fencingToken` or a lost lease is 409 `lease-lost`. Requires the runner token of the lease's runner.",
        'x-rate-limit-category': 'write',
        'x-credential': 'runner',
        security: [
          {
            runnerToken: [],
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                $ref: '#/components/schemas/RunWait',
              },
              examples: {
                approval: {
                  summary: 'Ask a human to approve a refund',
                  value: {
                    fencingToken: 1,
                    requiredAction: {
                      type: 'approval',
                      message: 'Refund 49.00 EUR for order 10-2291 to the customer?',
                      data: {
                        action: 'refund',
                        orderId: '10-2291',
                        amountMinor: 4900,
                        currency: 'EUR',
                      },
                    },
                  },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'The waiting run.',
            content: {
              'application/json': {
                schema: {
                  $ref: '#/components/schemas/Run',
                },
                examples: {
                  run: {
                    summary: 'A run waiting for an approval',
                    value: {
                      id: 'run_01jd59x8w7v6t5s4r3q2p1n0m9',
                      object: 'run',
                      agentId: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab',
                      agentVersion: 2,
                      input: {
                        ticketId: 'T-4817',
                        subject: 'Refund for a cancelled order',
                        body: 'I cancelled order 10-2291 yesterday; please refund it.',
                      },
                      output: null,
                      error: null,
                      status: 'waiting',
                      requiredAction: {
                        type: 'approval',
                        message: 'Refund 49.00 EUR for order 10-2291 to the customer?',
                        data: {
                          action: 'refund',
                          orderId: '10-2291',
                          amountMinor: 4900,
                          currency: 'EUR',
                        },
                      },
                      triggeredBy: {
                        type: 'schedule',
                        id: 'sched_01jd3z8c6v4b2n0m8k6j4h2g0f',
                      },
                      endUserId: null,
                      threadId: null,
                      attempt: 1,
                      usage: {
                        inputTokens: 1320,
                        outputTokens: 140,
                      },
                      costMicros: 4100,
                      metadata: {
                        source: 'helpdesk',
                        ticket: 'T-4817',
                      },
                      queuedAt: '2026-11-22T06:00:00.000Z',
                      startedAt: '2026-11-22T06:00:00.800Z',
                      finishedAt: null,
                      expiresAt: '2026-11-22T07:00:00.000Z',
                      createdAt: '2026-11-22T06:00:00.000Z',
                      updatedAt: '2026-11-22T06:00:04.200Z',
                    },
                  },
                },
              },
            },
            headers: {
              'Request-Id': {
                $ref: '#/components/headers/Request-Id',
              },
              RateLimit: {
                $ref: '#/components/headers/RateLimit',
              },
              'RateLimit-Policy': {
                $ref: '#/components/headers/RateLimit-Policy',
              },
              'Switchboard-Version': {
                $ref: '#/components/headers/Switchboard-Version',
              },
              Deprecation: {
                description: 'Sent when the version the request was answered in is deprecated (RFC 9745): the time it was deprecated, as `@` and Unix seconds.',
                required: false,
                schema: {
                  type: 'string',
                  pattern: '^@\\d{1,12}$',
                  maxLength: 13,
                },
                example: '@1812153600',
              },
              Sunset: {
                description: 'Sent with `Deprecation`: the time after which the version is no longer served (RFC 8594), as an HTTP date.',
                required: false,
                schema: {
                  type: 'string',
                  pattern: '^[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$',
                  maxLength: 29,
                },
                example: 'Sun, 05 Dec 2027 00:00:00 GMT',
              },
              Link: {
                description:
                  'Sent with `Deprecation`: where the versions and their changes are listed, as `</api/v1/versions>; rel="deprecation"; type="application/json"`.',
                required: false,
                schema: {
                  type: 'string',
                  pattern: '^<[^<>\\s]+>(; ?[a-z]+="[^"]*")*$',
                  maxLength: 200,
                },
                example: '</api/v1/versions>; rel="deprecation"; type="application/json"',
              },
            },
          },
          '400': {
            $ref: '#/components/responses/BadRequest',
          },
          '401': {
            $ref: '#/components/responses/Unauthorized',
          },
          '403': {
            $ref: '#/components/responses/Forbidden',
          },
          '404': {
            $ref: '#/components/responses/NotFound',
          },
          '409': {
            $ref: '#/components/responses/Conflict',
          },
          '413': {
            $ref: '#/components/responses/PayloadTooLarge',
          },
          '415': {
            $ref: '#/components/responses/UnsupportedMediaType',
          },
          '422': {
            $ref: '#/components/responses/UnprocessableContent',
          },
          '429': {
            $ref: '#/components/responses/TooManyRequests',
          },
          '500': {
            $ref: '#/components/responses/InternalError',
          },
        },
      },
    },
    '/api/v1/runs/{runId}/resume': {
      parameters: [
        {
          $ref: '#/components/parameters/RunId',
        },
      ],
      post: {
        operationId: 'resumeRun',
        'x-audit-action': 'run.resume',
        tags: ['Runs'],
        summary: 'Resume a waiting run',
        description:
          'Answers the `requiredAction` of a `waiting` run and puts it back to `running`; its runner learns it from its next heartbeat. Any other status is 409 `invalid-transition`. Requires the `write` scope.',
        'x-rate-limit-category': 'write',
        parameters: [
          {
            $ref: '#/components/parameters/AppId',
          },
        ],
        requestBody: {
          description: "The human's answer; the body may be omitted.",
          required: false,
          content: {
            'application/json': {
              schema: {
                $ref: '#/components/schemas/RunResume',
              },
              examples: {
                approve: {
                  summary: 'Approve the requested action',
                  value: {
                    input: {
                      approved: true,
                      comment: 'Refund approved by the support lead.',
                    },
                  },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'The resumed run.',
            headers: {
              'Request-Id': {
                $ref: '#/components/headers/Request-Id',
              },
              RateLimit: {
                $ref: '#/components/headers/RateLimit',
              },
              'RateLimit-Policy': {
                $ref: '#/components/headers/RateLimit-Policy',
              },
              'Switchboard-Version': {
                $ref: '#/components/headers/Switchboard-Version',
              },
              Deprecation: {
                description: 'Sent when the version the request was answered in is deprecated (RFC 9745): the time it was deprecated, as `@` and Unix seconds.',
                required: false,
                schema: {
                  type: 'string',
                  pattern: '^@\\d{1,12}$',
                  maxLength: 13,
                },
                example: '@1812153600',
              },
              Sunset: {
                description: 'Sent with `Deprecation`: the time after which the version is no longer served (RFC 8594), as an HTTP date.',
                required: false,
                schema: {
                  type: 'string',
                  pattern: '^[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$',
                  maxLength: 29,
                },
                example: 'Sun, 05 Dec 2027 00:00:00 GMT',
              },
              Link: {
                description:
                  'Sent with `Deprecation`: where the versions and their changes are listed, as `</api/v1/versions>; rel="deprecation"; type="application/json"`.',
                required: false,
                schema: {
                  type: 'string',
                  pattern: '^<[^<>\\s]+>(; ?[a-z]+="[^"]*")*$',
                  maxLength: 200,
                },
                example: '</api/v1/versions>; rel="deprecation"; type="application/json"',
              },
              ETag: {
                $ref: '#/components/headers/ETag',
              },
            },
            content: {
              'application/json': {
                schema: {
                  $ref: '#/components/schemas/Run',
                },
                examples: {
                  run: {
                    summary: 'A run resumed after an approval',
                    value: {
                      id: 'run_01jd59x8w7v6t5s4r3q2p1n0m9',
                      object: 'run',
                      agentId: 'agent_01jd4x7p2kf8q6v3b9m5t0s1ab',
                      agentVersion: 2,
                      input: {
                        ticketId: 'T-4817',
                        subject: 'Refund for a cancelled order',
                        body: 'I cancelled order 10-2291 yesterday; please refund it.',
                      },
                      output: null,
                      error: null,
                      status: 'running',
                      requiredAction: null,
                      triggeredBy: {
                        type: 'schedule',
                        id: 'sched_01jd3z8c6v4b2n0m8k6j4h2g0f',
                      },
                      endUserId: null,
                      threadId: null,
                      attempt: 1,
                      usage: {
                        inputTokens: 1320,
                        outputTokens: 140,
                      },
                      costMicros: 4100,
                      metadata: {
                        source: 'helpdesk',
                        ticket: 'T-4817',
                      },
                      queuedAt: '2026-11-22T06:00:00.000Z',
                      startedAt: '2026-11-22T06:00:00.800Z',
                      finishedAt: null,
                      expiresAt: '2026-11-22T07:00:00.000Z',
                      createdAt: '2026-11-22T06:00:00.000Z',
                      updatedAt: '2026-11-22T06:12:30.000Z',
                    },
                  },
                },
              },
            },
          },
          '400': {
            $ref: '#/components/responses/BadRequest',
          },
          '401': {
            $ref: '#/components/responses/Unauthorized',
          },
          '403': {
            $ref: '#/components/responses/Forbidden',
          },
          '404': {
            $ref: '#/components/responses/NotFound',
          },
          '409': {
            $ref: '#/components/responses/Conflict',
          },
          '413': {
            $ref: '#/components/responses/PayloadTooLarge',
          },
          '415': {
            $ref: '#/components/responses/UnsupportedMediaType',
          },
          '422': {
            $ref: '#/components/responses/UnprocessableContent',
          },
          '429': {
            $ref: '#/components/responses/TooManyRequests',
          },
          '500': {
            $ref: '#/components/responses/InternalError',
          },
        },
      },
    },
  },
  schemas: {
    RunWait: {
      title: 'RunWait',
      description:
        'Puts a `running` run into `waiting` until a human answers `requiredAction`. The lease is kept; keep heartbeating to learn when the run is resumed.',
      type: 'object',
      additionalProperties: false,
      required: ['fencingToken', 'requiredAction'],
      properties: {
        fencingToken: {
          type: 'integer',
          description: 'Fencing token of the lease, as received in the claim.',
          format: 'int64',
          minimum: 1,
          maximum: 9007199254740991,
        },
        requiredAction: {
          $ref: '#/components/schemas/RequiredAction',
        },
      },
    },
    RunResume: {
      title: 'RunResume',
      description: "The human's answer to a waiting run's `requiredAction`.",
      type: 'object',
      additionalProperties: false,
      properties: {
        input: {
          $ref: '#/components/schemas/RunResumeInput',
        },
      },
    },
  },
};
