from provision.emulator.server import main

main()
