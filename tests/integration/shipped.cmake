# Every shipped configuration (lb/journey-lb.conf, the package's lb.conf, the Azure cloud-init's
# lb.conf, docker-compose.yml's lb command) started as shipped on loopback: its HTTP health checks
# take a failing backend DOWN and bring it back (shipped_configs.py).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.shipped. shipped_configs.py ${Python3_EXECUTABLE} 120
    CASES example deb azure compose)
endif()
